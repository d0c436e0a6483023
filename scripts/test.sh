#!/bin/sh
# `npm test`: the one command that runs the whole test suite on a fresh Debian machine.
#   1. installs npm dependencies when they are missing or older than package-lock.json;
#   2. installs the Debian packages whose programs the suites drive (see TEST_TOOLS);
#   3. builds when a source changed since the last build (the interop suites run the compiled
#      `stevedore` CLI; vitest's global setup checks again, for runs that skip this script);
#   4. runs vitest; extra arguments go to `vitest run` (e.g. `npm test -- test/interop`).
# Under CI=true a program that is still missing after step 2 is a hard failure; elsewhere the
# suites that need it will fail with their own message and this script only warns.
set -eu
cd "$(dirname "$0")/.."

# Programs the suites run, as `command` or `command:debian-package` (package defaults to the
# command's name). Add tools here (runc, radosgw, …) when a suite starts needing them.
TEST_TOOLS="runc busybox:busybox-static skopeo docker-registry openssl nginx:nginx-light monmaptool:ceph-base ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common radosgw-admin:ceph-common radosgw:radosgw setfattr:attr getfattr:attr zstd podman dockerd:docker.io docker:docker.io ctr:containerd containerd chromium /usr/lib/cni/bridge:containernetworking-plugins iptables unshare:util-linux ip:iproute2 cc:gcc tmux tini-static:tini strace"

SCRIPT=test.sh
. scripts/lib.sh
is_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

# --- 1. npm dependencies ------------------------------------------------------------------
ensure_node_deps

# --- 2. Debian packages -------------------------------------------------------------------
# shellcheck disable=SC2086 # one program per word
install_tools $TEST_TOOLS
missing=$(missing_tools $TEST_TOOLS)
if [ -n "$missing" ]; then
  list=""
  for entry in $missing; do
    case $entry in
      *:*) list="$list ${entry%%:*} (Debian package ${entry#*:})" ;;
      *) list="$list $entry (Debian package $entry)" ;;
    esac
  done
  if is_ci; then
    die "required test programs are missing:$list"
  fi
  say "WARNING: test programs missing:$list; the suites that need them will fail"
fi

# --- 3. build -------------------------------------------------------------------------------
step "build" node scripts/build-if-stale.mjs

# --- 4. tests -------------------------------------------------------------------------------
exec npx vitest run "$@"
