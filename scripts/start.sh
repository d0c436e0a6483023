#!/bin/sh
# `npm start`: installs what is missing, builds when a source changed since the last build, and runs the registry on the embedded default
# (filesystem storage in ./data, port 5000, no auth). Extra arguments go to `stevedore serve`.
set -eu
cd "$(dirname "$0")/.."
SCRIPT=start.sh
. scripts/lib.sh
ensure_node_deps
step "build" node scripts/build-if-stale.mjs
# npm runs this under `sh -c` and, on SIGTERM, ends only that shell: the server watches its parent
# and shuts down (as on SIGTERM) when it is gone, instead of living on as an orphan.
STEVEDORE_STOP_WITH_PARENT=1 exec node bin/stevedore.js serve "$@"
