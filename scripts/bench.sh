#!/bin/sh
# `npm run bench`: benchmark Stevedore against Debian's docker-registry (CNCF distribution 2.8)
# side by side (see bench/main.ts for what is measured and the BENCH_* settings).
#   1. installs npm dependencies when they are missing or older than package-lock.json;
#   2. installs the Debian packages it runs when they are missing: the peers (docker-registry,
#      skopeo, umoci, runc), openssl, busybox-static, attr, zstd, and for the S3 set Ceph
#      (radosgw, ceph-mon, ceph-osd: a single-node RGW on loopback, as in the tests);
#   3. builds (the benchmark runs the compiled `stevedore` CLI and dist/bench/*.js);
#   4. runs the registry benchmark once per storage set in BENCH_STORAGE (default "filesystem s3":
#      both registries on the filesystem, then both on S3; results to stdout and
#      .bench/results.json / .bench/results-s3.json + .md tables), then GC, access control
#      (BENCH_AUTH_*), the pull-through mirror (BENCH_MIRROR_*), the client pull against skopeo,
#      and as root the engine: container start against bare runc, and pull + unpack against
#      skopeo + umoci (BENCH_ENGINE=0 skips that one).
set -eu
cd "$(dirname "$0")/.."

SCRIPT=bench.sh
. scripts/lib.sh

# --- 1. npm dependencies ------------------------------------------------------------------
ensure_node_deps

# --- 2. Debian packages -------------------------------------------------------------------
BENCH_STORAGE=${BENCH_STORAGE:-filesystem s3}
for set in $BENCH_STORAGE; do
  case $set in
    filesystem | s3) ;;
    *) die "BENCH_STORAGE: unknown storage set '$set' (filesystem, s3)" ;;
  esac
done
DOCKER_REGISTRY_BIN=${DOCKER_REGISTRY_BIN:-docker-registry}
export DOCKER_REGISTRY_BIN
# Programs as `command:debian-package`.
# The peers (docker-registry, skopeo, umoci, runc) and what the measured paths run (openssl for the
# auth benchmark's certificates; busybox-static, attr and zstd for the engine's images and unpacking).
# The network benchmark: the CNI plugins, iptables, and Docker Engine (in a namespace) as its peer.
TOOLS="$DOCKER_REGISTRY_BIN:docker-registry skopeo umoci runc buildah busybox:busybox-static openssl setfattr:attr zstd chromium /usr/lib/cni/bridge:containernetworking-plugins iptables nsenter:util-linux dockerd:docker.io docker:docker.io containerd"
case " $BENCH_STORAGE " in
  *" s3 "*) TOOLS="$TOOLS monmaptool:ceph-base ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common radosgw-admin:ceph-common radosgw:radosgw" ;;
esac
# shellcheck disable=SC2086 # one program per word
install_tools $TOOLS
missing=$(missing_tools $TOOLS)
[ -z "$missing" ] || die "still missing after apt-get install: $(echo $missing)"

# --- 3. build -------------------------------------------------------------------------------
step "npm run build" npm run --silent build

# --- 4. benchmarks --------------------------------------------------------------------------
# The registry against docker-registry (each storage set), then the client against skopeo
# and the other benchmarks, each against its peer.
for set in $BENCH_STORAGE; do
  say "registry benchmark, $set storage"
  step "benchmark ($set storage)" env BENCH_STORAGE="$set" node dist/bench/main.js "$@"
done
# Worker processes: 1 against 2 workers, load and server pinned to a core each (BENCH_WORKERS_*).
step "worker scaling benchmark" node dist/bench/workers.js
# GC: stevedore gc against docker-registry garbage-collect (BENCH_GC_* settings); once, not per set.
step "garbage collection benchmark" node dist/bench/gc.js
# Access control: manifest GETs with token auth on and off, Stevedore and docker-registry (BENCH_AUTH_*).
step "access-control benchmark" node dist/bench/auth.js
step "pull-through mirror benchmark" node dist/bench/mirror.js
step "client pull benchmark" node dist/bench/client-pull.js
# CLI start-up: --help, --version, images, ps, tags against `node -e 0` (BENCH_CLI_REPS).
step "CLI start-up benchmark" node dist/bench/cli-start.js
# Web UI in headless chromium: 10,000 repositories, a repository with 5,000 tags (BENCH_UI_*).
step "web UI benchmark" node dist/bench/ui.js
# Container start: `stevedore run --rm` against bare `runc run` (as root: it mounts overlayfs).
if [ "$(id -u)" = 0 ]; then
  step "container run benchmark" node dist/bench/engine-run.js
  # What a bridge network and -p add to a start (bridge vs none, -p vs host to first HTTP answer),
  # against Docker Engine with its bridge in a network namespace of the benchmark's own.
  step "container network benchmark" node dist/bench/engine-network.js
else
  say "skipping the container run benchmark: it needs root"
fi
# Builds: `stevedore build` against `buildah bud` (cold, cached, one-file change; as root).
if [ "$(id -u)" = 0 ]; then
  step "build benchmark" node dist/bench/build.js
else
  say "skipping the build benchmark: it needs root"
fi
# Engine: cold `stevedore pull` + unpack against skopeo copy + umoci unpack (BENCH_ENGINE_* settings;
# BENCH_ENGINE=0 skips it). Unpacking devices and ownership needs root.
if [ "${BENCH_ENGINE:-1}" = 0 ]; then
  :
elif [ "$(id -u)" = 0 ]; then
  node dist/bench/engine-pull.js
else
  say "skipping the engine pull benchmark: it needs root"
fi
