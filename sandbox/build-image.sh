#!/usr/bin/env bash
# Builds the sandbox image (kortix/sandbox:dev by default) if it is missing.
#
# Online: `docker build` from sandbox/Dockerfile with its default BASE_IMAGE.
# Offline (no registry answers): builds a Debian bookworm base with
# `debootstrap --variant=minbase` (python3 and git included, from Debian's
# package mirror), imports it with `docker import`, then builds the same
# Dockerfile FROM it through the BASE_IMAGE build argument.
#
# The image carries the sha256 of the Dockerfile as a label: an image built
# from another Dockerfile is rebuilt.
#
# Env: SANDBOX_IMAGE (tag to build), SANDBOX_REBUILD=1 (build even if present),
#      DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security; empty: none).
# The image carries headless Chromium (~500 MB more): the first build takes minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${SANDBOX_IMAGE:-kortix/sandbox:dev}"
base_offline="kortix/sandbox-base:bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { printf '[sandbox-image] %s\n' "$*" >&2; }

source_label="dev.kortix.dockerfile-sha256"
source_sha="$(sha256sum "$here/Dockerfile" | cut -d' ' -f1)"
if [[ "${SANDBOX_REBUILD:-0}" != "1" ]] && docker image inspect "$image" >/dev/null 2>&1; then
  built_from="$(docker image inspect -f "{{index .Config.Labels \"$source_label\"}}" "$image" 2>/dev/null || true)"
  if [[ "$built_from" == "$source_sha" ]]; then
    log "image $image present"
    exit 0
  fi
  log "image $image was built from another sandbox/Dockerfile: rebuilding"
fi

base_arg=()
default_base="$(sed -n 's/^ARG BASE_IMAGE=//p' "$here/Dockerfile" | head -n1)"
if docker image inspect "$default_base" >/dev/null 2>&1 || timeout 60 docker pull "$default_base" >/dev/null 2>&1; then
  log "building $image from $default_base"
else
  log "no registry answers for $default_base: building an offline base with debootstrap"
  if ! docker image inspect "$base_offline" >/dev/null 2>&1; then
    if ! command -v debootstrap >/dev/null; then
      log "installing debootstrap (apt-get)"
      apt-get install -y debootstrap >/dev/null
    fi
    rootfs="$(mktemp -d /tmp/kortix-rootfs.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase --include=python3-minimal,python3,git,ca-certificates \
      bookworm "$rootfs" "$mirror" >/tmp/kortix-debootstrap.log 2>&1 \
      || { log "debootstrap failed, see /tmp/kortix-debootstrap.log"; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$base_offline" >/dev/null
    log "imported $base_offline"
  fi
  base_arg=(--build-arg "BASE_IMAGE=$base_offline")
fi
if [[ -n "${DEBIAN_SECURITY_MIRROR+set}" ]]; then base_arg+=(--build-arg "DEBIAN_SECURITY_MIRROR=$DEBIAN_SECURITY_MIRROR"); fi

# The final stage's instructions (ENV, USER, WORKDIR, CMD, HEALTHCHECK), one a line, continuations
# joined, without comments and without its COPY: what `docker import --change` applies.
final_stage() {
  awk '/^FROM scratch/ {on = 1; next} !on || /^[[:space:]]*(#|$)/ {next}
       {line = line $0} /\\$/ {sub(/\\$/, "", line); next} {print line; line = ""}' "$here/Dockerfile" |
    grep -v '^COPY '
}

# No build context: the Dockerfile copies nothing from the repository.
if docker info --format '{{json .SecurityOptions}}' 2>/dev/null | grep -q 'name=userns'; then
  # Under userns-remap the classic builder's `COPY --from=rootfs / /` maps file owners twice and fails
  # on any owner but root ("Container ID 100042 cannot be mapped to a host ID"): flatten the rootfs
  # stage with export | import instead, applying the final stage's instructions as --change.
  stage="$image-rootfs"
  docker build -q "${base_arg[@]}" --target rootfs -t "$stage" - < "$here/Dockerfile" >/dev/null
  changes=(--change "LABEL $source_label=$source_sha")
  while IFS= read -r instruction; do changes+=(--change "$instruction"); done < <(final_stage)
  cid="$(docker create "$stage" true)"
  docker export "$cid" | docker import "${changes[@]}" - "$image" >/dev/null
  docker rm "$cid" >/dev/null
  docker rmi "$stage" >/dev/null || true
else
  docker build -q "${base_arg[@]}" --label "$source_label=$source_sha" -t "$image" - < "$here/Dockerfile" >/dev/null
fi
log "built $image"
