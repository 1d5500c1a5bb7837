#!/usr/bin/env bash
# Builds the whiskd image offline from the static release binary: busybox-static (a shell
# for health checks and debugging) plus whiskd, imported as whisk/whiskd:latest. The
# scaled-out layout (deploy/docker-compose.yml) runs its controllers and invokers from it.
#
#   images/build-whiskd.sh
#
# Idempotent: the image carries a hash of its inputs (label whisk.inputs-sha256). Needs
# cargo, a running dockerd and /bin/busybox from Debian's busybox-static.
set -euo pipefail

IMAGE=whisk/whiskd:latest
TARGET=x86_64-unknown-linux-gnu
LABEL=whisk.inputs-sha256

say() { printf '==> %s\n' "$*"; }
is_static() { ! ldd "$1" 2>&1 | grep -q '=>'; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say "building whiskd (static, release)"
RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release -p whiskd --target "$TARGET"
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
whiskd="$target_dir/$TARGET/release/whiskd"
is_static "$whiskd" || { echo "error: $whiskd is not statically linked" >&2; exit 1; }
busybox=/bin/busybox
[ -x "$busybox" ] && is_static "$busybox" || { echo "error: install busybox-static" >&2; exit 1; }

hash=$(cat "$whiskd" "$busybox" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
current=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  say "$IMAGE is up to date"
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/local/bin,data,secrets,tmp,etc}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh cat ls wget; do ln -s busybox "$root/bin/$applet"; done
cp "$whiskd" "$root/usr/local/bin/whiskd"
echo 'root:x:0:0:root:/data:/bin/sh' >"$root/etc/passwd"

say "importing $IMAGE"
tar -C "$root" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/whiskd"]' \
  --change 'CMD ["--help"]' \
  --change 'ENV HOME=/data' \
  --change "LABEL $LABEL=$hash" \
  - "$IMAGE" >/dev/null
say "$IMAGE ready"
