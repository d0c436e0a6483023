#!/bin/sh
# `npm run bench`: benchmark Stevedore against Debian's docker-registry (CNCF distribution 2.8)
# side by side (see bench/main.ts for what is measured and the BENCH_* settings).
#   1. installs npm dependencies when they are missing or older than package-lock.json;
#   2. installs docker-registry (Debian package) when it is missing;
#   3. builds (the benchmark runs the compiled `stevedore` CLI and dist/bench/main.js);
#   4. runs the benchmark; results go to stdout and .bench/results.json (+ .bench/results.md).
# Example, a quicker run: BENCH_BLOB_MIB=64 BENCH_REPS=3 npm run bench
set -eu
cd "$(dirname "$0")/.."

say() { printf 'bench.sh: %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}
step() {
  what=$1
  shift
  if "$@"; then return 0; else rc=$?; fi
  die "$what failed (exit $rc): $*"
}

# --- 1. npm dependencies ------------------------------------------------------------------
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install`, not `npm ci`: see scripts/test.sh.
  say "installing npm dependencies (npm install)"
  step "npm install" npm install --no-audit --no-fund
fi

# --- 2. docker-registry -------------------------------------------------------------------
DOCKER_REGISTRY_BIN=${DOCKER_REGISTRY_BIN:-docker-registry}
export DOCKER_REGISTRY_BIN
if ! command -v "$DOCKER_REGISTRY_BIN" >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  command -v apt-get >/dev/null 2>&1 || die "docker-registry is missing and apt-get is not available"
  say "installing Debian package docker-registry"
  step "apt-get update" $SUDO apt-get update -q
  step "apt-get install docker-registry" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-registry
  # The package starts a system service (:5000, htpasswd auth); the benchmark runs its own
  # instances with their own config and does not need it.
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  command -v "$DOCKER_REGISTRY_BIN" >/dev/null 2>&1 || die "docker-registry is still missing after apt-get install"
fi

# --- 3. build -------------------------------------------------------------------------------
step "npm run build" npm run --silent build

# --- 4. benchmarks --------------------------------------------------------------------------
# The registry against docker-registry, then the client against skopeo (skopeo is installed by
# `npm test`; the client benchmark is skipped with a note when it is missing).
node dist/bench/main.js "$@"
if command -v skopeo >/dev/null 2>&1; then
  node dist/bench/client-pull.js
else
  say "skopeo is not installed: skipping the client pull benchmark (npm test installs it)"
fi
