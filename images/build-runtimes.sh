#!/usr/bin/env bash
# Builds the native runtime images offline (no registry), from a Debian root filesystem:
#
#   whisk/action-base:bookworm         debootstrap minbase + nodejs + python3, trimmed
#   whisk/action-nodejs:<major>        base + static whisk-proxy + runtimes/nodejs/launcher.js
#                                      + the npm packages of runtimes/nodejs/package-lock.json
#                                      (the `openwhisk` client, as OpenWhisk's runtime ships it)
#   whisk/action-python:<major.minor>  base + static whisk-proxy + runtimes/python/launcher.py
#
#   images/build-runtimes.sh
#
# The versions are the ones Debian ships (bookworm: Node.js 18, Python 3.11), read from the
# root filesystem. One base holds both interpreters and the two runtime images are thin
# layers over it: one debootstrap instead of two, the shared layer is stored once, and
# containers of both kinds share the page cache of the same library files.
#
# Idempotent and cached: the trimmed root filesystem is kept as a tarball under the cache
# directory ($RWHISK_CACHE_DIR, default /var/cache/rwhisk, or ~/.cache/rwhisk when not root),
# keyed by a hash of its recipe; every image carries a hash of its inputs (label
# whisk.inputs-sha256) and is rebuilt only when that changes. Needs root (debootstrap),
# cargo, a running dockerd and, for the first build only, deb.debian.org; npm and the npm
# registry when the Node.js packages change (they are installed here, on the host, with
# `npm ci` from the lock file, cached, and copied into the image: containers need no
# network for them).
set -euo pipefail

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=nodejs,python3
BASE=whisk/action-base:$SUITE
TARGET=x86_64-unknown-linux-gnu
LABEL=whisk.inputs-sha256
PATH_ENV=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

started=$SECONDS
say() { printf '==> %s\n' "$*"; }
took() { printf '    (%ss)\n' "$((SECONDS - $1))"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
# A dynamically linked file lists the libraries it needs as "lib => path".
is_static() { ! ldd "$1" 2>&1 | grep -q '=>'; }
label_of() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [ -z "${RWHISK_CACHE_DIR:-}" ]; then
  if [ "$(id -u)" = 0 ]; then RWHISK_CACHE_DIR=/var/cache/rwhisk; else RWHISK_CACHE_DIR=$HOME/.cache/rwhisk; fi
fi
mkdir -p "$RWHISK_CACHE_DIR"
docker info >/dev/null 2>&1 || fail "dockerd is not reachable (scripts/setup-host.sh starts it)"

# --- the proxy ------------------------------------------------------------------------

say "building whisk-proxy (static)"
RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release -p whisk-proxy --target "$TARGET"
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
proxy="$target_dir/$TARGET/release/whisk-proxy"
is_static "$proxy" || fail "$proxy is not statically linked"

# --- the base root filesystem ---------------------------------------------------------

# Removes what a runtime container never reads: package caches and lists, documentation
# (the copyright files stay), manuals, translations, logs.
trim_rootfs() {
  local root=$1
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  find "$root/var/log" -type f -delete
  rm -rf "$root"/tmp/* "$root"/root/.cache
  mkdir -p "$root/action"
}

# "nodejs 18.20.4+dfsg-1~deb12u2" lines for the packages named, from a dpkg status file.
package_versions() {
  awk -v want=" $* " '
    /^Package: / { pkg = $2 }
    /^Version: / && index(want, " " pkg " ") { print pkg, $2 }'
}

# Unmounts whatever debootstrap left mounted under $1, then removes it.
remove_root() {
  local root=$1 mount
  [ -d "$root" ] || return 0
  while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf --one-file-system "$root"
}

recipe="suite=$SUITE packages=$PACKAGES variant=minbase $(declare -f trim_rootfs)"
base_hash=$(printf '%s' "$recipe" | sha256sum | cut -d' ' -f1)
tarball="$RWHISK_CACHE_DIR/rootfs-$SUITE-${base_hash:0:16}.tar"

if [ "$(label_of "$BASE" "$LABEL")" = "$base_hash" ]; then
  say "$BASE is up to date"
else
  if [ -f "$tarball" ]; then
    say "using the cached root filesystem $tarball"
  else
    [ "$(id -u)" = 0 ] || fail "debootstrap needs root"
    if ! command -v debootstrap >/dev/null; then
      say "installing debootstrap"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq debootstrap >/dev/null
    fi
    step=$SECONDS
    say "debootstrap $SUITE with $PACKAGES from $MIRROR (about a minute; once)"
    root=$(mktemp -d "$RWHISK_CACHE_DIR/rootfs.XXXXXX")
    trap 'remove_root "$root"' EXIT
    # debootstrap names every package it retrieves, validates, extracts, unpacks and
    # configures: count those, show the rest.
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" 2>&1 |
      awk '/^I: (Retrieving|Validating) [^ ]+ [^ ]+$/ || /^I: (Extracting|Unpacking|Configuring) [^ ]+\.\.\.$/ {
             n++; if (n % 100 == 0) { printf "    ... %d package steps\n", n; fflush() } next }
           { print "    " $0; fflush() }'
    took "$step"
    step=$SECONDS
    say "trimming and packing the root filesystem"
    trim_rootfs "$root"
    du -sh "$root" | awk '{ print "    root filesystem: " $1 }'
    tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    remove_root "$root"
    trap - EXIT
    # Older recipes' tarballs are of no further use.
    find "$RWHISK_CACHE_DIR" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -path "$tarball" -delete
    took "$step"
  fi
  step=$SECONDS
  versions=$(tar -xOf "$tarball" ./var/lib/dpkg/status | package_versions nodejs python3)
  node_version=$(awk '$1 == "nodejs" { print $2 }' <<<"$versions")
  python_version=$(awk '$1 == "python3" { print $2 }' <<<"$versions")
  [ -n "$node_version" ] && [ -n "$python_version" ] || fail "no nodejs or python3 in $tarball"
  say "importing $BASE (nodejs $node_version, python3 $python_version)"
  old_base=$(image_id "$BASE")
  docker import \
    --change "ENV PATH=$PATH_ENV" \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL $LABEL=$base_hash" \
    --change "LABEL whisk.nodejs-version=$node_version" \
    --change "LABEL whisk.python-version=$python_version" \
    --message "rwhisk runtime base: debootstrap $SUITE minbase + $PACKAGES" \
    "$tarball" "$BASE" >/dev/null
  [ -z "$old_base" ] || docker rmi "$old_base" >/dev/null 2>&1 || true
  took "$step"
fi

# --- the runtime images -----------------------------------------------------------------

base_id=$(image_id "$BASE")
node_major=$(label_of "$BASE" whisk.nodejs-version | sed 's/^\([0-9]*\)\..*/\1/')
python_minor=$(label_of "$BASE" whisk.python-version | sed 's/^\([0-9]*\.[0-9]*\)\..*/\1/')
[ -n "$node_major" ] && [ -n "$python_minor" ] || fail "$BASE lacks its version labels"
# Without buildx, the classic builder (a FROM of a local image needs no registry).
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

# node_packages DIR: the packages of DIR/package-lock.json installed with `npm ci`, cached
# under the cache directory by the lock file's hash; prints the node_modules directory.
node_packages() {
  local dir=$1 lock_hash cached tmp
  lock_hash=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  cached="$RWHISK_CACHE_DIR/node-packages-${lock_hash:0:16}"
  if [ ! -d "$cached/node_modules" ]; then
    command -v npm >/dev/null || fail "npm is needed to install $dir/package-lock.json"
    say "installing the Node.js runtime's npm packages (npm ci)" >&2
    tmp=$(mktemp -d "$RWHISK_CACHE_DIR/node-packages.XXXXXX")
    cp "$dir/package.json" "$dir/package-lock.json" "$tmp/"
    (cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
      { rm -rf "$tmp"; fail "npm ci of $dir/package-lock.json failed"; }
    rm -f "$tmp/package.json" "$tmp/package-lock.json" "$tmp/node_modules/.package-lock.json"
    find "$RWHISK_CACHE_DIR" -maxdepth 1 -name 'node-packages-*' ! -path "$cached" -exec rm -rf {} +
    mv "$tmp" "$cached"
  fi
  printf '%s\n' "$cached/node_modules"
}

# build_runtime IMAGE KIND LAUNCHER SOURCE_FILE [NODE_MODULES]
# NODE_MODULES: packages every action can require (on NODE_PATH, owned by root).
build_runtime() {
  local image=$1 kind=$2 launcher=$3 source_file=$4 modules=${5:-} context hash old step log
  local name copy_modules='' modules_hash=''
  name=$(basename "$launcher")
  context=$(mktemp -d)
  if [ -n "$modules" ]; then
    copy_modules="COPY node_modules /usr/local/lib/node_modules
ENV NODE_PATH=/usr/local/lib/node_modules"
    modules_hash=$(cd "$modules" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum)
  fi
  # The Dockerfile is part of the inputs: writing it first lets the hash cover it.
  cat >"$context/Dockerfile" <<EOF
FROM $BASE
COPY whisk-proxy /usr/local/bin/whisk-proxy
COPY $name /usr/local/lib/whisk/$name
$copy_modules
ENV WHISK_PROXY_MODE=actionloop \\
    WHISK_LAUNCHER=/usr/local/lib/whisk/$name \\
    WHISK_LAUNCHER_SOURCE=$source_file \\
    HOME=/tmp
RUN chown 1000:1000 /action
USER 1000:1000
EXPOSE 8080
CMD ["/usr/local/bin/whisk-proxy"]
EOF
  hash=$( { printf '%s\n%s\n' "$base_id" "$modules_hash"; cat "$context/Dockerfile" "$proxy" "$launcher"; } | sha256sum | cut -d' ' -f1)
  if [ "$(label_of "$image" "$LABEL")" = "$hash" ]; then
    rm -rf "$context"
    say "$image is up to date"
    return
  fi
  step=$SECONDS
  say "building $image (kind $kind)"
  if command -v strip >/dev/null; then
    strip -o "$context/whisk-proxy" "$proxy"
  else
    cp "$proxy" "$context/whisk-proxy"
  fi
  install -m 0755 "$launcher" "$context/$name"
  [ -z "$modules" ] || cp -r "$modules" "$context/node_modules"
  old=$(image_id "$image")
  # The classic builder warns that it is deprecated: show its output only on failure.
  log=$(mktemp)
  if ! docker build -q --label "$LABEL=$hash" --label "whisk.kind=$kind" -t "$image" "$context" \
    >"$log" 2>&1; then
    cat "$log" >&2
    rm -rf "$context" "$log"
    fail "docker build of $image failed"
  fi
  rm -rf "$context" "$log"
  [ -z "$old" ] || [ "$old" = "$(image_id "$image")" ] || docker rmi "$old" >/dev/null 2>&1 || true
  took "$step"
}

node_modules=$(node_packages runtimes/nodejs)
build_runtime "whisk/action-nodejs:$node_major" "nodejs:$node_major" \
  runtimes/nodejs/launcher.js index.js "$node_modules"
build_runtime "whisk/action-python:$python_minor" "python:$python_minor" \
  runtimes/python/launcher.py __main__.py

say "runtime images ready in $((SECONDS - started))s:"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' |
  grep -E "^whisk/action-(base|nodejs|python):" | sed 's/^/    /' || true
