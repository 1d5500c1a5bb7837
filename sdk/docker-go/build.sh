#!/usr/bin/env bash
# Builds the example Go action as a Docker image.
#
#   ./build.sh IMAGE
#
# Compiles main.go into a static ./exec with the host's Go (Debian's golang-go), then
# `docker build -t IMAGE .` FROM openwhisk/dockerskeleton.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 IMAGE   (e.g. $0 whisk/example-go)" >&2; exit 2; }
image=$1

cd "$(dirname "${BASH_SOURCE[0]}")"
# Without buildx the Docker CLI must be told to use the classic builder.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

echo "==> compiling main.go (static) into exec"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o exec main.go
echo "==> building $image"
docker build -q -t "$image" . >/dev/null
echo "==> $image is built; register it with: wsk action create NAME --docker $image"
