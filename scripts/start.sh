#!/bin/sh
# `npm start`: installs what is missing, builds, and runs the registry on the embedded default
# (filesystem storage in ./data, port 5000, no auth). Extra arguments go to `stevedore serve`.
set -eu
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install`, not `npm ci`: see scripts/test.sh.
  npm install --no-audit --no-fund
fi
npm run --silent build
exec node bin/stevedore.js serve "$@"
