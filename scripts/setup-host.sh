#!/usr/bin/env bash
# Installs and starts what rwhisk needs on this machine: a Docker engine (docker.io, runc),
# busybox-static for the skeleton image, Go for the SDK's Go example, and the servers the
# tests start on loopback themselves: PostgreSQL, nats-server (JetStream) and Chromium for
# the UI's browser tests; Node.js and npm for the browser tests and OpenWhisk's JS client in the
# API gateway tests; docker-compose (the scale-out layout's file is checked).
# As root it installs missing Debian packages and starts dockerd; otherwise it says what to do.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v runc >/dev/null 2>&1 || need_pkgs+=(runc)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx unzip || need_pkgs+=(busybox-static)
command -v go >/dev/null 2>&1 || need_pkgs+=(golang-go)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v nats-server >/dev/null 2>&1 || need_pkgs+=(nats-server)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# Node.js and npm: the Node.js runtime image's packages (the openwhisk client) at image build,
# the UI's browser tests (playwright-core) and OpenWhisk's JS client in the API gateway tests.
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
# The scale-out tests check deploy/docker-compose.yml with `docker-compose config`.
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "rwhisk needs these Debian packages: ${need_pkgs[*]}" >&2
    echo "Install them with: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
  say "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  say "dockerd is running"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dockerd is not running and this user cannot start it." >&2
  echo "Start it with: sudo dockerd &" >&2
  exit 1
fi
say "starting dockerd (log: /var/log/rwhisk-dockerd.log)"
nohup dockerd >/var/log/rwhisk-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    say "dockerd is ready"
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not become ready; see /var/log/rwhisk-dockerd.log" >&2
tail -20 /var/log/rwhisk-dockerd.log >&2 || true
exit 1
