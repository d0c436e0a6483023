# syntax=docker/dockerfile:1
# The Stevedore registry image.
#   docker build -t stevedore .
#   docker run -p 5000:5000 -v stevedore-data:/var/lib/stevedore stevedore
# runs it with filesystem storage in the volume (deploy/image-config.yml); mount another
# configuration at /etc/stevedore/config.yml, or set STEVEDORE_* variables, for anything else
# (docker-compose.yml runs two replicas on MinIO this way).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: all dependencies, compile TypeScript to dist/, then drop the dev dependencies
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No lifecycle scripts: `prepare` would compile before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: Node, production dependencies, the compiled code; no compiler, no sources
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /opt/stevedore
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The web UI's files (tsc copies only what it compiles); dist/server/ui finds them here.
COPY --from=build /src/server/ui/assets ./server/ui/assets
COPY --from=build /src/bin ./bin
COPY deploy/image-config.yml /etc/stevedore/config.yml
RUN mkdir -p /var/lib/stevedore && chown node:node /var/lib/stevedore
# The node image's unprivileged user (uid 1000).
USER node
EXPOSE 5000
# Liveness (GET /healthz on http.addr's port); readiness with storage checks is GET /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) drains in-flight requests for http.drainTimeout, then exits.
ENTRYPOINT ["node", "/opt/stevedore/bin/stevedore.js"]
CMD ["serve", "--config", "/etc/stevedore/config.yml"]
