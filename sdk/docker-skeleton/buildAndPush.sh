#!/usr/bin/env bash
# Builds the example C action as a Docker image (and pushes it with --push).
#
#   ./buildAndPush.sh IMAGE [--push]
#
# example.c is compiled here, on the host, into a static ./exec; then `docker build` copies
# it into an image FROM openwhisk/dockerskeleton. There is no registry on an offline
# machine, so pushing happens only when asked.
set -euo pipefail

usage() { echo "usage: $0 IMAGE [--push]   (e.g. $0 whisk/example-c)" >&2; exit 2; }
image=""
push=false
for arg in "$@"; do
  case "$arg" in
    --push) push=true ;;
    -*) usage ;;
    *) [ -z "$image" ] || usage; image=$arg ;;
  esac
done
[ -n "$image" ] || usage

cd "$(dirname "${BASH_SOURCE[0]}")"
# Without buildx the Docker CLI must be told to use the classic builder.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

echo "==> compiling example.c (static) into exec"
gcc -static -O2 -o exec example.c
echo "==> building $image"
docker build -q -t "$image" . >/dev/null
if $push; then
  echo "==> pushing $image"
  docker push "$image"
fi
echo "==> $image is built; register it with: wsk action create NAME --docker $image"
