#!/usr/bin/env bash
# Installs OpenWhisk's JS client (the `openwhisk` npm package, pinned) into
# target/js-client, for the tests that drive whiskd with it (crates/whiskd/tests/apigw.rs).
# Idempotent and offline once installed: it does nothing when the package is there.
set -euo pipefail
VERSION=3.21.9
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${JS_CLIENT_DIR:-$ROOT/target/js-client}"
if [ -f "$DIR/node_modules/openwhisk/package.json" ] &&
    grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/openwhisk/package.json"; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is needed (scripts/setup-host.sh installs it)" >&2; exit 1; }
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name":"rwhisk-js-client","private":true}' >"$DIR/package.json"
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "openwhisk@$VERSION"
