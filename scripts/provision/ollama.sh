#!/usr/bin/env bash
# Finds (or builds once) Ollama, the local model server behind the router's
# `local` provider (OpenAI-compatible API on loopback).
#
#   eval "$(scripts/provision/ollama.sh)"
#
# Stdout:
#   export OLLAMA_SOURCE='external'   when OLLAMA_HOST is set (use that server; nothing else)
#   export OLLAMA_BIN='<path>'        otherwise, plus
#   export OLLAMA_SOURCE='env|path|cache|built'
#
# Lookup order: OLLAMA_HOST (a running server wins) -> $OLLAMA_BIN -> `ollama`
# on PATH -> <cache>/bin/ollama-<version> -> build it with `go install` (one
# time: ~10 min on 2 idle cores, over an hour on busy ones; serialized with flock).
#
# Why the extra headers: Go module zips drop llama.cpp's vendor/ directory, so
# the cgo build needs nlohmann/json, stb and cpp-httplib from Debian and
# miniaudio.h from the Go module github.com/gen2brain/malgo (which carries the
# same single-header library at its root).
set -euo pipefail
PROVISION_NAME=ollama
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OLLAMA_MODULE="github.com/ollama/ollama"
OLLAMA_VERSION="v0.17.4"
MINIAUDIO_MODULE="github.com/gen2brain/malgo"
MINIAUDIO_VERSION="v0.11.24"
MIN_GO_MINOR=24

# The version is in the file name: `go install` does not stamp Ollama's
# version into the binary, so `ollama -v` cannot tell a stale cache apart.
cache_bin="$KORTIX_CACHE_DIR/bin/ollama-${OLLAMA_VERSION#v}"

if [[ -n "${OLLAMA_HOST:-}" ]]; then
  log "using the Ollama server at $OLLAMA_HOST; starting none"
  emit OLLAMA_SOURCE external
  exit 0
fi

# runs BIN -> succeeds when BIN starts (`ollama -v` prints the client version
# and exits 0 even with no server running).
runs() { timeout 30 "$1" -v >/dev/null 2>&1; }

found() { # found PATH SOURCE
  runs "$1" || die "$1 does not run (\`$1 -v\` failed)"
  log "Ollama: $1"
  emit OLLAMA_BIN "$1"
  emit OLLAMA_SOURCE "$2"
  exit 0
}

if [[ -n "${OLLAMA_BIN:-}" ]]; then
  if [[ -x "$OLLAMA_BIN" && ! -d "$OLLAMA_BIN" ]]; then
    log "using OLLAMA_BIN from the environment"
    found "$OLLAMA_BIN" env
  fi
  warn "OLLAMA_BIN=$OLLAMA_BIN is not an executable file; ignoring it"
fi

if on_path="$(command -v ollama 2>/dev/null)" && [[ -n "$on_path" ]]; then
  if runs "$on_path"; then
    log "found ollama on PATH"
    found "$on_path" path
  fi
  warn "ollama on PATH ($on_path) does not run; ignoring it"
fi

cache_ok() { [[ -x "$cache_bin" ]] && runs "$cache_bin"; }

if cache_ok; then
  log "found ollama in the cache"
  found "$cache_bin" cache
fi

# --- build it -----------------------------------------------------------------
go_bin="$(find_go)" ||
  die "no Ollama found and no Go toolchain to build one. Install Go >= 1.$MIN_GO_MINOR (https://go.dev/dl/), or install Ollama (https://ollama.com/download), or set OLLAMA_HOST=<host:port> to use a running server, or OLLAMA_BIN=<path to the ollama binary>."
command -v g++ >/dev/null 2>&1 || apt_install g++

with_lock "$KORTIX_CACHE_DIR/ollama-build.lock" 5400
if cache_ok; then
  log "found ollama in the cache (built by a concurrent run)"
  found "$cache_bin" cache
fi

warn_old_go "$go_bin" "$MIN_GO_MINOR" "Ollama $OLLAMA_VERSION"

# Headers that llama.cpp's vendor/ directory would hold.
missing=()
[[ -r /usr/include/nlohmann/json.hpp ]] || missing+=(nlohmann-json3-dev)
[[ -r /usr/include/stb/stb_image.h ]] || missing+=(libstb-dev)
[[ -r /usr/include/httplib.h ]] || missing+=(libcpp-httplib-dev)
if ((${#missing[@]} > 0)); then
  apt_install --no-install-recommends "${missing[@]}"
fi

include_dir="$KORTIX_CACHE_DIR/ollama-include"
if [[ ! -s "$include_dir/miniaudio/miniaudio.h" ]]; then
  malgo_dir="$(GOFLAGS=-mod=mod "$go_bin" mod download -json "$MINIAUDIO_MODULE@$MINIAUDIO_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$malgo_dir" && -r "$malgo_dir/miniaudio.h" ]] ||
    die "could not get miniaudio.h from $MINIAUDIO_MODULE@$MINIAUDIO_VERSION (go mod download)"
  mkdir_p "$include_dir/miniaudio"
  cp -f "$malgo_dir/miniaudio.h" "$include_dir/miniaudio/miniaudio.h"
  chmod 0644 "$include_dir/miniaudio/miniaudio.h"
fi

build_log="$KORTIX_CACHE_DIR/ollama-build.log"
: >"$build_log"
log "building Ollama with go install (one time: ~10 min on 2 idle cores, over an hour on busy ones): $OLLAMA_MODULE@$OLLAMA_VERSION using $go_bin; log: $build_log"
started="$(now_ns)"
CGO_ENABLED=1 CGO_CPPFLAGS="-I$include_dir -I/usr/include/stb${CGO_CPPFLAGS:+ $CGO_CPPFLAGS}" \
  go_install_cached "$go_bin" "$OLLAMA_MODULE@$OLLAMA_VERSION" "$cache_bin" "$build_log" ||
  die "go install $OLLAMA_MODULE@$OLLAMA_VERSION failed (see $build_log). Alternatively install Ollama yourself, or set OLLAMA_HOST or OLLAMA_BIN."
log "built $cache_bin ($(du -h "$cache_bin" | cut -f1)) in $(elapsed_since "$started")"
found "$cache_bin" built
