#!/usr/bin/env bash
# Checks the native runtime images the way the invoker uses them: each runs with port 8080
# published on 127.0.0.1, gets POST /init with code and POST /run, and must answer with the
# expected results (including an application error and a developer error), write the
# action's log lines before the sentinels, and refuse a second /init. Exits non-zero on any
# mismatch. Build the images first: images/build-runtimes.sh.
set -euo pipefail

SENTINEL=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
containers=()
cleanup() { [ ${#containers[@]} -eq 0 ] || docker rm -f "${containers[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

say() { printf '==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Canonical JSON (sorted keys, no spaces), so results compare as data, not text.
canon() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",", ":")))'; }

# init_body CODE [MAIN] [BINARY]: the /init body for CODE, as the invoker sends it.
init_body() {
  python3 -c 'import json,sys
print(json.dumps({"value": {"name": "hello", "main": sys.argv[2], "binary": sys.argv[3] == "true",
                            "code": sys.argv[1], "env": {"MY_INIT": "from-init"}}}))' \
    "$1" "${2:-main}" "${3:-false}"
}

# run_body VALUE_JSON: a /run body around VALUE_JSON.
run_body() {
  printf '{"value":%s,"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1","activation_id":"0123456789abcdef0123456789abcdef","transaction_id":"tid","deadline":"4102444800000","api_key":"uuid:key"}' "$1"
}

# start IMAGE: runs it as the invoker does; sets CID and PORT once the proxy answers.
start() {
  CID=$(docker run -d -p 127.0.0.1::8080 "$1")
  containers+=("$CID")
  PORT=$(docker port "$CID" 8080/tcp | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -1)
  [ -n "$PORT" ] || fail "$1: no port published on 127.0.0.1"
  for _ in $(seq 1 100); do
    # The proxy answers 404 on / once it listens.
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
      return
    fi
    sleep 0.1
  done
  docker logs "$CID" >&2 || true
  fail "$1: the proxy did not answer on 127.0.0.1:$PORT"
}

# post PATH BODY: prints "STATUS BODY" (to the current container).
post() {
  local out status
  out=$(curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" \
    "http://127.0.0.1:$PORT$1")
  status=${out##*$'\n'}
  printf '%s %s\n' "$status" "${out%$'\n'*}"
}

# expect WHAT STATUS RESULT_JSON "STATUS BODY"
expect() {
  local got_status=${4%% *} got_body=${4#* } got
  [ "$got_status" = "$2" ] || fail "$1: expected HTTP $2, got: $4"
  got=$(canon <<<"$got_body") || fail "$1: the body is not JSON: $4"
  [ "$got" = "$(canon <<<"$3")" ] || fail "$1: expected $3, got $got"
}

# logs_with STREAM N: the container's stdout or stderr once it holds N sentinels.
logs_with() {
  local log
  for _ in $(seq 1 100); do
    if [ "$1" = stdout ]; then log=$(docker logs "$CID" 2>/dev/null); else log=$(docker logs "$CID" 2>&1 >/dev/null); fi
    if [ "$(grep -cx "$SENTINEL" <<<"$log")" -ge "$2" ]; then
      printf '%s\n' "$log"
      return
    fi
    sleep 0.1
  done
  fail "$CID: fewer than $2 sentinels on $1: $log"
}

# segment N: the lines of activation N (1-based) of a log on stdin.
segment() { awk -v want="$1" -v s="$SENTINEL" '$0 == s { n++; next } n == want - 1 { print }'; }

# check_runtime IMAGE CODE ZIP_BASE64 DEVELOPER_ERROR_PREFIX
check_runtime() {
  local image=$1 code=$2 zip=$3 dev_error=$4 out err
  say "checking $image"
  docker image inspect "$image" >/dev/null 2>&1 || fail "image $image is missing; run images/build-runtimes.sh"
  start "$image"
  expect "$image /init" 200 '{"ok":true}' "$(post /init "$(init_body "$code")")"
  expect "$image /run" 200 \
    '{"greeting":"Hello World!","aid":"0123456789abcdef0123456789abcdef","init":"from-init"}' \
    "$(post /run "$(run_body '{"name":"World"}')")"
  expect "$image application error" 200 '{"error":"an application error"}' \
    "$(post /run "$(run_body '{"kind":"app"}')")"
  local dev
  dev=$(post /run "$(run_body '{"kind":"dev"}')")
  [ "${dev%% *}" = 502 ] || fail "$image developer error: expected HTTP 502, got $dev"
  grep -qF "\"error\":\"$dev_error" <<<"$dev" || fail "$image developer error: $dev"
  expect "$image after errors" 200 \
    '{"greeting":"Hello again!","aid":"0123456789abcdef0123456789abcdef","init":"from-init"}' \
    "$(post /run "$(run_body '{"name":"again"}')")"
  local again
  again=$(post /init "$(init_body "$code")")
  [ "${again%% *}" = 403 ] || fail "$image second /init: expected HTTP 403, got $again"

  out=$(logs_with stdout 6)
  [ "$(segment 1 <<<"$out")" = "loading hello" ] || fail "$image: init logs: $out"
  [ "$(segment 2 <<<"$out")" = "hello log World" ] || fail "$image: run logs: $out"
  [ "$(segment 5 <<<"$out")" = "hello log again" ] || fail "$image: run logs: $out"
  err=$(logs_with stderr 6)
  segment 4 <<<"$err" | grep 'boom' >/dev/null || fail "$image: the developer error is not logged: $err"
  docker rm -f "$CID" >/dev/null

  say "checking $image with a zip"
  start "$image"
  expect "$image zip /init" 200 '{"ok":true}' "$(post /init "$(init_body "$zip" main true)")"
  expect "$image zip /run" 200 '{"text":"Hi zip from a bundled module"}' \
    "$(post /run "$(run_body '{"name":"zip"}')")"
  docker rm -f "$CID" >/dev/null
  say "$image: ok"
}

# zip_of NAME=CONTENT...: base64 of a zip holding those files.
zip_of() {
  python3 -c 'import base64,io,sys,zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for arg in sys.argv[1:]:
        name, _, content = arg.partition("=")
        z.writestr(name, content)
print(base64.b64encode(buf.getvalue()).decode())' "$@"
}

command -v curl >/dev/null || fail "curl is needed"

NODE_HELLO='console.log("loading hello");
function main(params) {
  if (params.kind === "app") return { error: "an application error" };
  if (params.kind === "dev") throw new Error("boom");
  console.log("hello log", params.name);
  return { greeting: "Hello " + params.name + "!", aid: process.env.__OW_ACTIVATION_ID, init: process.env.MY_INIT };
}'
NODE_ZIP=$(zip_of 'package.json={"name":"z","main":"lib/action.js"}' \
  'lib/action.js=const g = require("greeter"); exports.main = async (p) => ({ text: g.greet(p.name) });' \
  'node_modules/greeter/index.js=exports.greet = (n) => "Hi " + n + " from a bundled module";')

PYTHON_HELLO='import os, sys
print("loading hello")
def main(params):
    if params.get("kind") == "app":
        raise RuntimeError("an application error")
    if params.get("kind") == "dev":
        print("boom", file=sys.stderr)
        return "not a dictionary"
    print("hello log", params["name"])
    return {"greeting": "Hello " + params["name"] + "!", "aid": os.environ["__OW_ACTIVATION_ID"], "init": os.environ["MY_INIT"]}'
PYTHON_ZIP=$(zip_of '__main__.py=import greeter
def main(p):
    return {"text": greeter.greet(p["name"])}' \
  'greeter.py=def greet(n):
    return "Hi " + n + " from a bundled module"')

node_image=${NODE_IMAGE:-$(docker image ls --format '{{.Repository}}:{{.Tag}}' 'whisk/action-nodejs' | head -1)}
python_image=${PYTHON_IMAGE:-$(docker image ls --format '{{.Repository}}:{{.Tag}}' 'whisk/action-python' | head -1)}
[ -n "$node_image" ] && [ -n "$python_image" ] || fail "runtime images are missing; run images/build-runtimes.sh"

# Node: a synchronous throw is a developer error. Python: a raised exception is an
# application error {"error": str(e)} (the "app" case), a result that is no dict a developer
# error.
check_runtime "$node_image" "$NODE_HELLO" "$NODE_ZIP" 'An error has occurred: '
# The openwhisk client ships in the Node.js image: it loads with no network, read-only, as uid 1000.
say "checking $node_image ships the openwhisk npm package"
docker run --rm --network none --read-only --user 1000:1000 --entrypoint node "$node_image" \
  -e "if (typeof require('openwhisk') !== 'function') process.exit(1)" ||
  fail "$node_image: require('openwhisk') failed"
check_runtime "$python_image" "$PYTHON_HELLO" "$PYTHON_ZIP" 'The action did not return a dictionary.'
say "all runtime images ok"
