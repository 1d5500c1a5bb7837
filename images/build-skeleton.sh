#!/usr/bin/env bash
# Builds the Docker skeleton base image offline: busybox-static plus the static whisk-proxy,
# imported as whisk/dockerskeleton:latest and tagged openwhisk/dockerskeleton:latest.
#
#   images/build-skeleton.sh
#
# Idempotent: the image carries a hash of its inputs (label whisk.inputs-sha256); when the
# existing image has the same hash, nothing is imported. Needs cargo, a running dockerd and
# /bin/busybox from Debian's busybox-static (installed with apt-get when missing, as root).
set -euo pipefail

IMAGE=whisk/dockerskeleton:latest
ALIAS=openwhisk/dockerskeleton:latest
TARGET=x86_64-unknown-linux-gnu
LABEL=whisk.inputs-sha256

say() { printf '==> %s\n' "$*"; }
# A dynamically linked file lists the libraries it needs as "lib => path".
is_static() { ! ldd "$1" 2>&1 | grep -q '=>'; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say "building whisk-proxy (static)"
RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release -p whisk-proxy --target "$TARGET"
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
proxy="$target_dir/$TARGET/release/whisk-proxy"
if ! is_static "$proxy"; then
  echo "error: $proxy is not statically linked" >&2
  exit 1
fi

busybox=/bin/busybox
if ! { [ -x "$busybox" ] && is_static "$busybox"; }; then
  say "installing busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq busybox-static >/dev/null
fi

# The inputs: the proxy, busybox and this script (which decides the layout).
hash=$(cat "$proxy" "$busybox" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
current=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  if [ "$(docker image inspect --format '{{.Id}}' "$ALIAS" 2>/dev/null || true)" != \
       "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    docker tag "$IMAGE" "$ALIAS"
  fi
  say "$IMAGE is up to date"
  exit 0
fi

old_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,action,tmp,etc,root}
chmod 1777 "$root/tmp"
# The proxy runs as uid 1000 and writes the action's code here at /init, possibly over an
# /action/exec that a derived image copied in as root (hence no sticky bit).
chmod 0777 "$root/action"
cp "$busybox" "$root/bin/busybox"
# The applet links, as `busybox --install -s` would make them inside the image.
"$busybox" --list-full | while read -r applet; do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
if command -v strip >/dev/null; then
  strip -o "$root/usr/local/bin/whisk-proxy" "$proxy"
else
  cp "$proxy" "$root/usr/local/bin/whisk-proxy"
fi
printf 'root:x:0:0:root:/root:/bin/sh\naction:x:1000:1000:action:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\naction:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"

say "importing image $IMAGE"
tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
  docker import \
    --change 'CMD ["/usr/local/bin/whisk-proxy"]' \
    --change 'USER 1000:1000' \
    --change 'ENV HOME=/tmp' \
    --change 'EXPOSE 8080' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL $LABEL=$hash" \
    --message "rwhisk docker skeleton: busybox-static + whisk-proxy" \
    - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$ALIAS"
# The image this one replaces, unless containers or child images still use it.
[ -z "$old_id" ] || docker rmi "$old_id" >/dev/null 2>&1 || true
say "$IMAGE (also $ALIAS) is built"
