#!/usr/bin/env bash
# Builds the platform image (Dockerfile) here, with or without a registry.
#
#   deploy/image/build.sh [tag]          # default kortix/platform:dev
#
# Online (the Dockerfile's NODE_IMAGE can be pulled): a plain `docker build .`.
# Offline: the same Dockerfile FROM a local Node base, as sandbox/build-image.sh
# does for the sandbox image:
#   1. a Debian bookworm minbase from debootstrap (kortix/sandbox-base:bookworm,
#      shared with the sandbox image; made here if missing);
#   2. kortix/node-base:20-bookworm = that base + this machine's Node 20 binary
#      (it needs only glibc and libstdc++, both in the base);
#   3. a build context of the repository's files (tracked and new, not ignored)
#      plus the installed node_modules, which the Dockerfile's build stage then
#      uses instead of `npm ci` and prunes to production dependencies.
# Prints the tag built on stdout; progress on stderr.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd -P)"
tag="${1:-kortix/platform:dev}"
base_offline="kortix/sandbox-base:bookworm"
node_base="kortix/node-base:20-bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { printf '[platform-image] %s\n' "$*" >&2; }

default_node_image="$(sed -n 's/^ARG NODE_IMAGE=//p' "$repo/Dockerfile" | head -n1)"
if docker image inspect "$default_node_image" >/dev/null 2>&1 || timeout 60 docker pull "$default_node_image" >/dev/null 2>&1; then
  log "building $tag from $default_node_image"
  docker build -q -t "$tag" "$repo" >/dev/null
  echo "$tag"
  exit 0
fi

log "no registry answers for $default_node_image: building offline"
if ! docker image inspect "$base_offline" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { log "installing debootstrap (apt-get)"; apt-get install -y debootstrap >/dev/null; }
  rootfs="$(mktemp -d /tmp/kortix-rootfs.XXXXXX)"
  debootstrap --variant=minbase --include=python3-minimal,python3,git,ca-certificates bookworm "$rootfs" "$mirror" >/tmp/kortix-debootstrap.log 2>&1 ||
    { log "debootstrap failed, see /tmp/kortix-debootstrap.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$base_offline" >/dev/null
  rm -rf "$rootfs"
  log "imported $base_offline"
fi

node_bin="$(command -v node)"
node_version="$("$node_bin" --version)"
[[ "$node_version" == v20.* ]] || { log "the offline build copies this machine's Node, which must be 20 (found $node_version)"; exit 1; }
# npm too (the build stage prunes with it), from the module folder beside this Node.
npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
npm_version="$(npm --version)"
if [[ "$(docker image inspect -f '{{index .Config.Labels "dev.kortix.node-version"}}' "$node_base" 2>/dev/null || true)" != "$node_version+npm$npm_version" ]]; then
  ctx="$(mktemp -d /tmp/kortix-node-base.XXXXXX)"
  cp "$node_bin" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  printf '%s\n' "FROM $base_offline" 'COPY node /usr/local/bin/node' 'COPY npm /usr/local/lib/node_modules/npm' \
    'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version' \
    "LABEL dev.kortix.node-version=$node_version+npm$npm_version" |
    docker build -q -t "$node_base" -f - "$ctx" >/dev/null
  rm -rf "$ctx"
  log "built $node_base (Node $node_version)"
fi

[[ -d "$repo/node_modules" ]] || { log "no node_modules in $repo: run npm ci first"; exit 1; }
ctx="$(mktemp -d /tmp/kortix-platform-ctx.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c '[ -f "{}" ] && printf "%s\0" "{}"' | rsync -a --from0 --files-from=- ./ "$ctx/")
# Hard links: no copy of half a gigabyte (falls back to copying across file systems).
cp -al "$repo/node_modules" "$ctx/node_modules" 2>/dev/null || cp -a "$repo/node_modules" "$ctx/node_modules"
grep -v '^node_modules$' "$repo/.dockerignore" >"$ctx/.dockerignore"
log "building $tag from $node_base (context $ctx)"
docker build -q --build-arg "NODE_IMAGE=$node_base" -t "$tag" "$ctx" >/dev/null
echo "$tag"
