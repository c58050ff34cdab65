#!/usr/bin/env bash
# Finds (or builds once) SeaweedFS's `weed`, the S3-compatible server the
# tests run the S3 driver of the object store against (storage/s3-store.ts).
#
#   eval "$(scripts/provision/s3.sh)"
#
# Stdout: export WEED_BIN='<path>' and WEED_BIN_SOURCE='env|path|cache|built'.
#
# Why SeaweedFS: a real server that checks SigV4 signatures against the
# identities it is given (so a client with a wrong secret is refused), serves
# ranges, multipart uploads and presigned URLs, and is served by the Go module
# proxy. The price: a big build (hundreds of modules; about an hour on two busy
# cores, once; cached in <cache>/bin/weed). gofakes3 builds faster but accepts
# any signature, which would not test the credentials path.
#
# Its go.mod has a replace directive, which `go install pkg@version` refuses:
# the module's source is taken from the proxy (`go mod download`), copied and
# built as the main module (`go build ./weed`), so its own go.sum pins every
# dependency.
set -euo pipefail
PROVISION_NAME=s3
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WEED_MODULE="github.com/seaweedfs/seaweedfs"
WEED_VERSION="v0.0.0-20261109003541-7506e5f91cd6"
cache_bin="$KORTIX_CACHE_DIR/bin/weed"

weed_runs() { timeout 30 "$1" version >/dev/null 2>&1; }

found() { # found PATH SOURCE
  log "SeaweedFS: $1 ($(timeout 30 "$1" version 2>/dev/null | head -n 1))"
  emit WEED_BIN "$1"
  emit WEED_BIN_SOURCE "$2"
  exit 0
}

if [[ -n "${WEED_BIN:-}" ]]; then
  weed_runs "$WEED_BIN" && found "$WEED_BIN" env
  warn "WEED_BIN=$WEED_BIN does not run; ignoring it"
fi
if on_path="$(command -v weed 2>/dev/null)" && [[ -n "$on_path" ]] && weed_runs "$on_path"; then
  found "$on_path" path
fi
if [[ -x "$cache_bin" ]] && weed_runs "$cache_bin"; then found "$cache_bin" cache; fi

go_bin="$(command -v go 2>/dev/null || true)"
[[ -z "$go_bin" && -x /usr/local/go/bin/go ]] && go_bin=/usr/local/go/bin/go
[[ -n "$go_bin" ]] || die "no weed binary and no Go toolchain to build one: install Go (https://go.dev/dl/) or set WEED_BIN"

with_lock "$KORTIX_CACHE_DIR/weed-build.lock" 7200
if [[ -x "$cache_bin" ]] && weed_runs "$cache_bin"; then found "$cache_bin" cache; fi

build_log="$KORTIX_CACHE_DIR/weed-build.log"
stage="$KORTIX_CACHE_DIR/bin/.weed-build-$$"
mkdir_p "$stage"
trap 'rm -rf "$stage"' EXIT
log "building SeaweedFS once (long: see the header), $WEED_MODULE@$WEED_VERSION with $go_bin; log: $build_log"
started="$(now_ns)"
src_dir="$("$go_bin" mod download -json "$WEED_MODULE@$WEED_VERSION" 2>>"$build_log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$src_dir" ]] || die "go mod download $WEED_MODULE@$WEED_VERSION failed (see $build_log)"
cp -r "$src_dir" "$stage/src"
chmod -R u+w "$stage/src"
if ! (cd "$stage/src" && nice -n 10 "$go_bin" build -trimpath -ldflags '-s -w' -o "$stage/weed" ./weed) >>"$build_log" 2>&1; then
  tail -n 20 "$build_log" >&2 || true
  die "building weed failed (see $build_log); or set WEED_BIN"
fi
mv -f "$stage/weed" "$cache_bin"
log "built $cache_bin in $(elapsed_since "$started")"
found "$cache_bin" built
