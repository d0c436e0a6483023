#!/bin/sh
# `npm run bench`: benchmark Stevedore against Debian's docker-registry (CNCF distribution 2.8)
# side by side (see bench/main.ts for what is measured and the BENCH_* settings).
#   1. installs npm dependencies when they are missing or older than package-lock.json;
#   2. installs the Debian packages it runs when they are missing: docker-registry, and for the S3
#      set Ceph (radosgw, ceph-mon, ceph-osd: a single-node RGW on loopback, as in the tests);
#   3. builds (the benchmark runs the compiled `stevedore` CLI and dist/bench/main.js);
#   4. runs the benchmark once per storage set in BENCH_STORAGE (default "filesystem s3": both
#      registries on the filesystem, then both on S3); results go to stdout and
#      .bench/results.json / .bench/results-s3.json (+ .md tables); then the client pull benchmark.
# Examples: a quicker run: BENCH_BLOB_MIB=64 BENCH_S3_BLOB_MIB=32 BENCH_REPS=3 npm run bench
#           only the S3 set: BENCH_STORAGE=s3 npm run bench
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
TOOLS="$DOCKER_REGISTRY_BIN:docker-registry"
case " $BENCH_STORAGE " in
  *" s3 "*) TOOLS="$TOOLS monmaptool:ceph-base ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common radosgw-admin:ceph-common radosgw:radosgw" ;;
esac
missing_tools() {
  for entry in $TOOLS; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || printf '%s\n' "$entry"
  done
}
missing=$(missing_tools)
if [ -n "$missing" ]; then
  packages=$(for entry in $missing; do printf '%s\n' "${entry#*:}"; done | sort -u | tr '\n' ' ')
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  command -v apt-get >/dev/null 2>&1 || die "missing programs ($missing) and apt-get is not available"
  say "installing Debian packages: $packages"
  step "apt-get update" $SUDO apt-get update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  step "apt-get install $packages" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages
  # docker-registry's package starts a system service (:5000, htpasswd auth); the benchmark runs
  # its own instances with their own config and does not need it.
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  missing=$(missing_tools)
  [ -z "$missing" ] || die "still missing after apt-get install: $(echo $missing)"
fi

# --- 3. build -------------------------------------------------------------------------------
step "npm run build" npm run --silent build

# --- 4. benchmarks --------------------------------------------------------------------------
# The registry against docker-registry (each storage set), then the client against skopeo
# (skopeo is installed by `npm test`; the client benchmark is skipped with a note when it is missing).
for set in $BENCH_STORAGE; do
  say "registry benchmark, $set storage"
  step "benchmark ($set storage)" env BENCH_STORAGE="$set" node dist/bench/main.js "$@"
node dist/bench/gc.js # GC: stevedore gc vs docker-registry garbage-collect (BENCH_GC_* settings)
done
if command -v skopeo >/dev/null 2>&1; then
  node dist/bench/client-pull.js
else
  say "skopeo is not installed: skipping the client pull benchmark (npm test installs it)"
fi
