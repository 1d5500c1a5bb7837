#!/usr/bin/env bash
# The second half of `make quick-start`: start whiskd, point wsk at it, register the
# skeleton's hello action and invoke it, as the OpenWhisk devtools quick-start does.
set -euo pipefail
DATA_DIR=${DATA_DIR:-$HOME/.rwhisk}
WSK=${WSK:-target/release/wsk}

scripts/whiskd-ctl.sh start
"$WSK" property set --apihost http://127.0.0.1:3233 --auth "$(cat "$DATA_DIR/guest.key")" --namespace guest
echo "building the hello function from the docker skeleton (sdk/docker-skeleton) ..."
log=$(mktemp)
if ! sdk/docker-skeleton/buildAndPush.sh whisk/hello >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
echo "adding the function to whisk ..."
"$WSK" action delete hello >/dev/null 2>&1 || true
"$WSK" action create hello --docker whisk/hello
echo "invoking the function ..."
"$WSK" action invoke hello --param name World --result
echo "To invoke the function again use: make hello-world"
echo "To stop rwhisk use: make destroy"
