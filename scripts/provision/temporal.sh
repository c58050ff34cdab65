#!/usr/bin/env bash
# Finds (or builds once) the Temporal CLI, whose `temporal server start-dev`
# is the local Temporal server.
#
#   eval "$(scripts/provision/temporal.sh)"
#
# Stdout:
#   export TEMPORAL_CLI_SOURCE='external'   when TEMPORAL_ADDRESS is set (nothing else)
#   export TEMPORAL_CLI='<path>'            otherwise, plus
#   export TEMPORAL_CLI_SOURCE='env|path|cache|built'
#
# Lookup order: TEMPORAL_ADDRESS (use that server) -> $TEMPORAL_CLI ->
# `temporal` on PATH -> <cache>/bin/temporal -> build it with `go install`
# into <cache>/bin (one time, ~5 min; serialized with flock).
set -euo pipefail
PROVISION_NAME=temporal
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPORAL_CLI_MODULE="github.com/temporalio/cli/cmd/temporal"
# v1.5.1 is the last release whose go.mod has no replace directive, which
# `go install pkg@version` refuses.
TEMPORAL_CLI_VERSION="v1.5.1"
MIN_GO_MINOR=23

cache_bin="$KORTIX_CACHE_DIR/bin/temporal"

if [[ -n "${TEMPORAL_ADDRESS:-}" ]]; then
  log "using the Temporal server at $TEMPORAL_ADDRESS; starting none"
  emit TEMPORAL_CLI_SOURCE external
  exit 0
fi

# cli_version BIN -> prints the first line of `BIN --version`; fails if it does not run.
cli_version() {
  local out
  out="$(timeout 30 "$1" --version 2>&1)" || return 1
  printf '%s\n' "${out%%$'\n'*}"
}

found() { # found PATH SOURCE
  local version
  version="$(cli_version "$1")" || die "$1 does not run (\`$1 --version\` failed)"
  log "Temporal CLI: $1 ($version)"
  emit TEMPORAL_CLI "$1"
  emit TEMPORAL_CLI_SOURCE "$2"
  exit 0
}

if [[ -n "${TEMPORAL_CLI:-}" ]]; then
  if [[ -x "$TEMPORAL_CLI" && ! -d "$TEMPORAL_CLI" ]]; then
    log "using TEMPORAL_CLI from the environment"
    found "$TEMPORAL_CLI" env
  fi
  warn "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file; ignoring it"
fi

if on_path="$(command -v temporal 2>/dev/null)" && [[ -n "$on_path" ]]; then
  if cli_version "$on_path" >/dev/null; then
    log "found temporal on PATH"
    found "$on_path" path
  fi
  warn "temporal on PATH ($on_path) does not run; ignoring it"
fi

cache_ok() { [[ -x "$cache_bin" ]] && cli_version "$cache_bin" >/dev/null; }

if cache_ok; then
  log "found temporal in the cache"
  found "$cache_bin" cache
fi

# --- build it -----------------------------------------------------------------
go_bin="$(find_go)" ||
  die "no Temporal CLI found and no Go toolchain to build one. Install Go >= 1.$MIN_GO_MINOR (https://go.dev/dl/), or set TEMPORAL_ADDRESS=<host:port> to use an existing Temporal server, or TEMPORAL_CLI=<path to the temporal binary>."

with_lock "$KORTIX_CACHE_DIR/temporal-build.lock" 1200
# Another caller may have built it while we waited for the lock.
if cache_ok; then
  log "found temporal in the cache (built by a concurrent run)"
  found "$cache_bin" cache
fi

warn_old_go "$go_bin" "$MIN_GO_MINOR" "the Temporal CLI"

build_log="$KORTIX_CACHE_DIR/temporal-build.log"
: >"$build_log"
log "building the Temporal CLI with go install (one time, ~5 min): $TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION using $go_bin; log: $build_log"
started="$(now_ns)"
go_install_cached "$go_bin" "$TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION" "$cache_bin" "$build_log" ||
  die "go install $TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION failed (see $build_log). Alternatively set TEMPORAL_ADDRESS or TEMPORAL_CLI."
log "built $cache_bin in $(elapsed_since "$started")"
found "$cache_bin" built
