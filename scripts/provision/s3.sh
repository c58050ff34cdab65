#!/usr/bin/env bash
# Finds (or builds once) gofakes3, the S3-compatible HTTP server the tests run
# the S3 driver of the object store (storage/s3-store.ts) against
# (test/support/s3-server.ts starts one per test file on a free port).
#
#   eval "$(scripts/provision/s3.sh)"
#
# Stdout:
#   export S3_SOURCE='external'      when S3_ENDPOINT is set: the tests use that server (S3_BUCKET,
#                                    S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION from the
#                                    environment); nothing else
#   export GOFAKES3_BIN='<path>'     otherwise, plus
#   export S3_SOURCE='env|path|cache|built'
#
# Lookup order: S3_ENDPOINT (a user's own server wins) -> $GOFAKES3_BIN ->
# `gofakes3` on PATH -> <cache>/bin/gofakes3-<version> -> build it once with
# `go install github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0` (a small
# module, no replace directive; serialized with flock). Measured on 2 shared
# cores at load 12: 138 s from nothing (module download and the standard
# library's compile included; 43 s of CPU), 13 s with Go's build cache warm.
#
# Why gofakes3 and not SeaweedFS: both are real S3 servers over HTTP from the
# Go module proxy (path-style requests, ranges, multipart uploads, user
# metadata, ListObjectsV2, presigned-URL query strings), but SeaweedFS's build
# (hundreds of modules) ran over 100 minutes on this machine's shared cores
# without finishing, while gofakes3 builds in a few minutes at most. The price:
# gofakes3 does NOT verify SigV4 signatures (any key, any signature, any
# presigned URL's expiry is accepted), so no test against it proves that
# credentials or presigned signatures are checked; that needs a real S3 (set
# S3_ENDPOINT and friends to run the same tests against one).
set -euo pipefail
PROVISION_NAME=s3
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GOFAKES3_MODULE="github.com/johannesboyne/gofakes3/cmd/gofakes3"
GOFAKES3_VERSION="v1.2.0"
MIN_GO_MINOR=24
# The version is in the file name: go install stamps none gofakes3 could print.
cache_bin="$KORTIX_CACHE_DIR/bin/gofakes3-${GOFAKES3_VERSION#v}"

if [[ -n "${S3_ENDPOINT:-}" ]]; then
  log "using the S3 server at $S3_ENDPOINT (S3_ENDPOINT); starting none"
  emit S3_SOURCE external
  exit 0
fi

# runs BIN -> succeeds when BIN is gofakes3 (it has no version flag; -h lists its flags and exits 1).
runs() {
  local out
  [[ -x "$1" && ! -d "$1" ]] || return 1
  out="$(timeout 30 "$1" -h 2>&1 || true)"
  [[ "$out" == *-backend* ]]
}

found() { # found PATH SOURCE
  log "gofakes3: $1"
  emit GOFAKES3_BIN "$1"
  emit S3_SOURCE "$2"
  exit 0
}

if [[ -n "${GOFAKES3_BIN:-}" ]]; then
  if runs "$GOFAKES3_BIN"; then
    log "using GOFAKES3_BIN from the environment"
    found "$GOFAKES3_BIN" env
  fi
  warn "GOFAKES3_BIN=$GOFAKES3_BIN is not a gofakes3 binary that runs; ignoring it"
fi

if on_path="$(command -v gofakes3 2>/dev/null)" && [[ -n "$on_path" ]] && runs "$on_path"; then
  log "found gofakes3 on PATH"
  found "$on_path" path
fi

if runs "$cache_bin"; then
  log "found gofakes3 in the cache"
  found "$cache_bin" cache
fi

# --- build it -----------------------------------------------------------------
go_bin="$(find_go)" ||
  die "no gofakes3 found and no Go toolchain to build one. Install Go >= 1.$MIN_GO_MINOR (https://go.dev/dl/), or set GOFAKES3_BIN=<path to a gofakes3 binary>, or S3_ENDPOINT (with S3_BUCKET and keys) to use an S3 server of your own."

with_lock "$KORTIX_CACHE_DIR/gofakes3-build.lock" 1200
if runs "$cache_bin"; then
  log "found gofakes3 in the cache (built by a concurrent run)"
  found "$cache_bin" cache
fi
warn_old_go "$go_bin" "$MIN_GO_MINOR" "gofakes3 $GOFAKES3_VERSION"

build_log="$KORTIX_CACHE_DIR/gofakes3-build.log"
: >"$build_log"
log "building gofakes3 with go install (one time, 1-3 min): $GOFAKES3_MODULE@$GOFAKES3_VERSION using $go_bin; log: $build_log"
started="$(now_ns)"
go_install_cached "$go_bin" "$GOFAKES3_MODULE@$GOFAKES3_VERSION" "$cache_bin" "$build_log" ||
  die "go install $GOFAKES3_MODULE@$GOFAKES3_VERSION failed (see $build_log). Alternatively set GOFAKES3_BIN, or S3_ENDPOINT to use an S3 server of your own."
log "built $cache_bin in $(elapsed_since "$started")"
found "$cache_bin" built
