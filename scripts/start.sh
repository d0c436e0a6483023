#!/bin/sh
# `npm start`: installs what is missing, builds, and runs the registry on the embedded default
# (filesystem storage in ./data, port 5000, no auth). Extra arguments go to `stevedore serve`.
set -eu
cd "$(dirname "$0")/.."
SCRIPT=start.sh
. scripts/lib.sh
ensure_node_deps
npm run --silent build
exec node bin/stevedore.js serve "$@"
