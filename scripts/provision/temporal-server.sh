#!/usr/bin/env bash
# Finds (or builds once) the Temporal server, its SQL schema tool and the
# Temporal Web UI server: the pieces of a real Temporal cluster (make cluster,
# make test-cluster), as opposed to the CLI's single-process dev server.
#
#   eval "$(scripts/provision/temporal-server.sh)"
#
# Stdout:
#   export TEMPORAL_SERVER_BIN='<path>'     the server (`--service frontend|history|matching|worker`)
#   export TEMPORAL_SQL_TOOL='<path>'       the schema tool (create-database, setup-schema, update-schema)
#   export TEMPORAL_UI_SERVER='<path>'      the Web UI server
#   export TEMPORAL_SERVER_SOURCE='env|cache|built'
#
# The versions are the ones the pinned CLI embeds (scripts/provision/temporal.sh:
# CLI v1.5.1 = server v1.29.1, UI server v2.42.1), so the dev server and the
# cluster run the same Temporal. All three modules have no replace directive,
# so `go install module/cmd@version` builds them from the Go module proxy.
# Lookup: the three variables above when all are executable files -> the cache
# (<cache>/bin/temporal-{server,sql-tool,ui-server}) -> build with go install
# (one time, ~10 min on 2 cores; CGO off; serialized with flock).
set -euo pipefail
PROVISION_NAME=temporal-server
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPORAL_SERVER_VERSION="v1.29.1"
TEMPORAL_UI_SERVER_VERSION="v2.42.1"
# name in the cache -> module path of the command (go install names the binary after the last path element).
declare -A MODULES=(
  [temporal-server]="go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION"
  [temporal-sql-tool]="go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
  [temporal-ui-server]="github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_SERVER_VERSION"
)
bin_dir="$KORTIX_CACHE_DIR/bin"

runs() { [[ -x "$1" && ! -d "$1" ]] && timeout 30 "$1" --help >/dev/null 2>&1; }

emit_all() { # emit_all SERVER SQL UI SOURCE
  log "Temporal server $TEMPORAL_SERVER_VERSION: $1; schema tool: $2; Web UI server $TEMPORAL_UI_SERVER_VERSION: $3"
  emit TEMPORAL_SERVER_BIN "$1"
  emit TEMPORAL_SQL_TOOL "$2"
  emit TEMPORAL_UI_SERVER "$3"
  emit TEMPORAL_SERVER_SOURCE "$4"
  exit 0
}

if [[ -n "${TEMPORAL_SERVER_BIN:-}${TEMPORAL_SQL_TOOL:-}${TEMPORAL_UI_SERVER:-}" ]]; then
  if runs "${TEMPORAL_SERVER_BIN:-}" && runs "${TEMPORAL_SQL_TOOL:-}" && runs "${TEMPORAL_UI_SERVER:-}"; then
    log "using TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL and TEMPORAL_UI_SERVER from the environment"
    emit_all "$TEMPORAL_SERVER_BIN" "$TEMPORAL_SQL_TOOL" "$TEMPORAL_UI_SERVER" env
  fi
  warn "TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL and TEMPORAL_UI_SERVER must all name executables that run; ignoring them"
fi

missing() { # prints the cache names not there yet
  local name
  for name in "${!MODULES[@]}"; do runs "$bin_dir/$name" || printf '%s\n' "$name"; done
}

if [[ -z "$(missing)" ]]; then
  log "found the Temporal server, schema tool and UI server in the cache"
  emit_all "$bin_dir/temporal-server" "$bin_dir/temporal-sql-tool" "$bin_dir/temporal-ui-server" cache
fi

go_bin="$(find_go)" || die "no Temporal server in $bin_dir and no Go toolchain to build it. Install Go >= 1.23 (https://go.dev/dl/), or set TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL and TEMPORAL_UI_SERVER."

with_lock "$KORTIX_CACHE_DIR/temporal-server-build.lock" 2400
build_log="$KORTIX_CACHE_DIR/temporal-server-build.log"
: >"$build_log"
started="$(now_ns)"
while read -r name; do
  [[ -n "$name" ]] || continue # another caller may have built some while we waited for the lock
  module="${MODULES[$name]}"
  log "building $name with go install (one time; the server takes ~10 min on 2 cores): $module; log: $build_log"
  # CGO off: a static binary, no C toolchain needed (the SQLite driver is pure Go).
  CGO_ENABLED=0 go_install_cached "$go_bin" "$module" "$bin_dir/$name" "$build_log" || die "go install $module failed (see $build_log)"
done < <(missing)
log "built the Temporal server pieces in $(elapsed_since "$started")"
emit_all "$bin_dir/temporal-server" "$bin_dir/temporal-sql-tool" "$bin_dir/temporal-ui-server" built
