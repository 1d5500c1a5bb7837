#!/usr/bin/env bash
# Checks the skeleton and the SDK example images the way the invoker uses them: each runs
# with port 8080 published on 127.0.0.1, gets POST /init and POST /run, and must answer
# with the expected result and write its logs before the sentinel. Exits non-zero on any
# mismatch. Build the images first: images/build-skeleton.sh, then
# sdk/docker-skeleton/buildAndPush.sh whisk/example-c and sdk/docker-go/build.sh whisk/example-go
# (`make images sdk-images` does all three).
set -euo pipefail

SENTINEL=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
containers=()
cleanup() { [ ${#containers[@]} -eq 0 ] || docker rm -f "${containers[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

say() { printf '==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Canonical JSON (sorted keys, no spaces), so results compare as data, not text.
canon() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",", ":")))'; }

# start IMAGE: runs it as the invoker does (8080 published on 127.0.0.1); sets CID and PORT
# once the proxy accepts connections.
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

# post PORT PATH BODY: prints "STATUS BODY".
post() {
  local out status
  out=$(curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$1$2")
  status=${out##*$'\n'}
  printf '%s %s\n' "$status" "${out%$'\n'*}"
}

expect_status() { # WHAT EXPECTED "STATUS BODY"
  [ "${3%% *}" = "$2" ] || fail "$1: expected HTTP $2, got: $3"
}

# stdout_of CONTAINER N: the container's stdout once it holds N sentinels.
stdout_of() {
  local log
  for _ in $(seq 1 100); do
    log=$(docker logs "$1" 2>/dev/null)
    if [ "$(grep -cx "$SENTINEL" <<<"$log")" -ge "$2" ]; then
      printf '%s\n' "$log"
      return
    fi
    sleep 0.1
  done
  fail "container $1: fewer than $2 sentinels on stdout: $log"
}

# check_action IMAGE EXPECTED_RESULT [LOG_LINE]
check_action() {
  local image=$1 expected=$2 log_line=${3:-} cid port reply result log
  say "checking $image"
  start "$image"
  cid=$CID port=$PORT
  reply=$(post "$port" /init '{"value":{}}')
  expect_status "$image /init" 200 "$reply"
  reply=$(post "$port" /run '{"value":{"key":"value"},"namespace":"guest","action_name":"/guest/test","activation_id":"0123456789abcdef0123456789abcdef","transaction_id":"tid","deadline":"4102444800000"}')
  expect_status "$image /run" 200 "$reply"
  result=$(canon <<<"${reply#* }") || fail "$image: /run body is not JSON: $reply"
  [ "$result" = "$(canon <<<"$expected")" ] || fail "$image: expected $expected, got $result"
  log=$(stdout_of "$cid" 2)
  # stdout: the /init sentinel, the run's log lines, the /run sentinel.
  if [ -n "$log_line" ]; then
    awk -v want="$log_line" -v s="$SENTINEL" '
      $0 == s { n++; next }
      n == 1 && $0 == want { found = 1 }
      END { exit !(found && n == 2) }' <<<"$log" ||
      fail "$image: log line \"$log_line\" is not between the sentinels: $log"
  fi
  # stderr also ends every /init and /run with the sentinel.
  [ "$(docker logs "$cid" 2>&1 >/dev/null | grep -cx "$SENTINEL")" -eq 2 ] ||
    fail "$image: stderr does not hold two sentinels"
  docker rm -f "$cid" >/dev/null
  say "$image: ok $result"
}

command -v curl >/dev/null || fail "curl is needed"
for image in whisk/dockerskeleton:latest openwhisk/dockerskeleton:latest whisk/example-c whisk/example-go; do
  docker image inspect "$image" >/dev/null 2>&1 ||
    fail "image $image is missing; run: make images sdk-images"
done

check_action whisk/example-c \
  '{"args":{"key":"value"},"msg":"Hello from C program!"}' \
  "This is a log message from an arbitrary C program!"
check_action whisk/example-go \
  '{"keys":["key"],"message":"Hello from Go","values":["value"]}'

# The bare skeleton: a busybox sh script as /init code, then a second /init is refused.
say "checking openwhisk/dockerskeleton with a shell script"
start openwhisk/dockerskeleton:latest
cid=$CID port=$PORT
reply=$(post "$port" /run '{"value":{}}')
expect_status "skeleton /run before /init" 502 "$reply"
script='#!/bin/sh\necho \"log from sh\"\nprintf \"{\\\"args\\\":%s,\\\"ns\\\":\\\"%s\\\"}\" \"$1\" \"$__OW_NAMESPACE\"\n'
reply=$(post "$port" /init "{\"value\":{\"code\":\"$script\"}}")
expect_status "skeleton /init" 200 "$reply"
reply=$(post "$port" /init "{\"value\":{\"code\":\"$script\"}}")
expect_status "skeleton second /init" 403 "$reply"
reply=$(post "$port" /run '{"value":{"a":[1,2]},"namespace":"guest"}')
expect_status "skeleton /run" 200 "$reply"
result=$(canon <<<"${reply#* }")
[ "$result" = '{"args":{"a":[1,2]},"ns":"guest"}' ] || fail "skeleton: got $result"
stdout_of "$cid" 4 | grep -x 'log from sh' >/dev/null || fail "skeleton: log line missing"
docker rm -f "$cid" >/dev/null
say "openwhisk/dockerskeleton: ok $result"

say "all images ok"
