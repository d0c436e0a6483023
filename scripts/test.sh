#!/bin/sh
# `npm test`: the one command that runs the whole test suite on a fresh Debian machine.
#   1. installs npm dependencies when they are missing or older than package-lock.json;
#   2. installs the Debian packages whose programs the suites drive (see TEST_TOOLS);
#   3. builds (the interop suites run the compiled `stevedore` CLI);
#   4. runs vitest; extra arguments go to `vitest run` (e.g. `npm test -- test/interop`).
# Under CI=true a program that is still missing after step 2 is a hard failure; elsewhere the
# suites that need it will fail with their own message and this script only warns.
set -eu
cd "$(dirname "$0")/.."

# Programs the suites run, as `command` or `command:debian-package` (package defaults to the
# command's name). Add tools here (runc, radosgw, …) when a suite starts needing them.
TEST_TOOLS="skopeo docker-registry nginx:nginx-light monmaptool:ceph-base ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common radosgw-admin:ceph-common radosgw:radosgw"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}
# Runs a step; on failure says which step failed, so the cause is not lost in npm/apt output.
step() {
  what=$1
  shift
  if "$@"; then return 0; else rc=$?; fi
  die "$what failed (exit $rc): $*"
}
is_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

# --- 1. npm dependencies ------------------------------------------------------------------
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install`, not `npm ci`: npm 11 leaves other platforms' optional packages (rollup's)
  # out of the lock file it writes and then refuses `npm ci` on it. Versions still come from the lock.
  say "installing npm dependencies (npm install)"
  step "npm install" npm install --no-audit --no-fund
fi

# --- 2. Debian packages -------------------------------------------------------------------
missing_tools() {
  for entry in $TEST_TOOLS; do
    cmd=${entry%%:*}
    command -v "$cmd" >/dev/null 2>&1 || printf '%s\n' "$entry"
  done
}

missing=$(missing_tools)
if [ -n "$missing" ]; then
  packages=""
  for entry in $missing; do
    case $entry in
      *:*) packages="$packages ${entry#*:}" ;;
      *) packages="$packages $entry" ;;
    esac
  done
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "WARNING: apt-get not found; cannot install:$packages"
  elif [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    say "WARNING: not root and no sudo; cannot install:$packages"
  else
    say "installing Debian packages:$packages"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages; then
      # docker-registry's package starts a system service (:5000, htpasswd auth); the suites run
      # their own instances with their own config and do not need it.
      case " $packages " in
        *" docker-registry "*) $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true ;;
      esac
      # Likewise nginx-light's own nginx on :80: the deploy test runs its own instance.
      case " $packages " in
        *" nginx-light "*) $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true ;;
      esac
    else
      say "WARNING: apt-get install failed for:$packages"
    fi
  fi
  missing=$(missing_tools)
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
fi

# --- 3. build -------------------------------------------------------------------------------
step "npm run build" npm run --silent build

# --- 4. tests -------------------------------------------------------------------------------
exec npx vitest run "$@"
