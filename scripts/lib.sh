# Shared by scripts/test.sh, bench.sh and start.sh (sourced; set SCRIPT to the caller's name first).

say() { printf '%s: %s\n' "$SCRIPT" "$*" >&2; }
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

# npm dependencies, when node_modules is missing or older than package-lock.json.
# `npm ci`: exactly the lock file's versions, and the lock file is never rewritten.
ensure_node_deps() {
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
    [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies (npm ci)"
    step "npm ci" npm ci --no-audit --no-fund
  fi
}

# Arguments: programs as `command` or `command:debian-package`; a command given as an absolute
# path is a program off PATH (the CNI plugins in /usr/lib/cni). Prints the missing ones.
missing_tools() {
  for entry in "$@"; do
    case ${entry%%:*} in
      /*) [ -x "${entry%%:*}" ] || printf '%s\n' "$entry" ;;
      *) command -v "${entry%%:*}" >/dev/null 2>&1 || printf '%s\n' "$entry" ;;
    esac
  done
}

# Installs the Debian packages of the missing programs among the arguments (as root, or with
# sudo). Warns when it cannot; the caller checks missing_tools afterwards and decides.
install_tools() {
  missing=$(missing_tools "$@")
  [ -n "$missing" ] || return 0
  packages=$(for entry in $missing; do
    case $entry in
      *:*) printf '%s\n' "${entry#*:}" ;;
      *) printf '%s\n' "$entry" ;;
    esac
  done | sort -u | tr '\n' ' ')
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "WARNING: apt-get not found; cannot install: $packages"
  elif [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    say "WARNING: not root and no sudo; cannot install: $packages"
  else
    say "installing Debian packages: $packages"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages; then
      # Packages that start a system service on install (docker-registry on :5000 with htpasswd,
      # nginx on :80): the suites and benchmarks run their own instances and need neither.
      case " $packages " in *" docker-registry "*) $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true ;; esac
      case " $packages " in *" nginx-light "*) $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true ;; esac
    else
      say "WARNING: apt-get install failed for: $packages"
    fi
  fi
}
