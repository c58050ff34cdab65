# shellcheck shell=bash
# Shared helpers for scripts/provision/*.sh. Source it; do not run it.
#
# Contract of every provision script:
#   - human-readable progress on STDERR, prefixed "[provision:<name>] "
#   - machine-readable results on STDOUT as `export NAME='value'` lines, so a
#     caller can `eval "$(scripts/provision/<name>.sh)"`
#   - a non-zero exit with a clear message when something cannot be provided.
#
# Before sourcing, a script may set PROVISION_NAME (the log prefix).

if [[ -n "${__KORTIX_PROVISION_LIB:-}" ]]; then
  return 0
fi
__KORTIX_PROVISION_LIB=1

PROVISION_NAME="${PROVISION_NAME:-$(basename "${BASH_SOURCE[1]:-provision}" .sh)}"

log() { printf '[provision:%s] %s\n' "$PROVISION_NAME" "$*" >&2; }
warn() { printf '[provision:%s] WARNING: %s\n' "$PROVISION_NAME" "$*" >&2; }
die() {
  printf '[provision:%s] ERROR: %s\n' "$PROVISION_NAME" "$*" >&2
  exit 1
}

# shell_quote VALUE -> VALUE in single quotes, safe for eval.
shell_quote() {
  local s=$1
  printf "'%s'" "${s//\'/\'\\\'\'}"
}

# emit NAME VALUE -> "export NAME='VALUE'" on stdout.
emit() {
  printf 'export %s=%s\n' "$1" "$(shell_quote "$2")"
}

# Repository root (physical path, symlinks resolved).
KORTIX_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

__kortix_home="${HOME:-}"
if [[ -z "$__kortix_home" ]]; then
  __kortix_home="$(getent passwd "$(id -u)" | cut -d: -f6 || true)"
  __kortix_home="${__kortix_home:-/tmp}"
fi

# Cache dir (built tools, locks) and data dir (databases, daemon logs).
KORTIX_CACHE_DIR="${KORTIX_CACHE_DIR:-${XDG_CACHE_HOME:-$__kortix_home/.cache}/kortix}"
KORTIX_DATA_DIR="${KORTIX_DATA_DIR:-$KORTIX_REPO_ROOT/.data}"
unset __kortix_home

is_root() { [[ "$(id -u)" -eq 0 ]]; }

is_debian() { [[ -r /etc/debian_version ]] && command -v apt-get >/dev/null 2>&1; }

# mkdir -p with world-traversable new directories regardless of the caller's umask.
mkdir_p() { (umask 022 && mkdir -p "$@"); }

# apt_install PKG... -- root + Debian only. Runs `apt-get update` only when the
# first attempt fails (typically: no package lists on a fresh machine).
apt_install() {
  is_root || die "need root to apt-get install $*"
  is_debian || die "cannot install $* automatically: not a Debian/Ubuntu system (no apt-get)"
  local out
  out="$(mktemp /tmp/kortix-apt.XXXXXX)"
  log "installing $* with apt-get"
  if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y "$@" >"$out" 2>&1; then
    rm -f "$out"
    return 0
  fi
  log "apt-get install failed; running apt-get update and retrying"
  if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update >>"$out" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y "$@" >>"$out" 2>&1; then
    rm -f "$out"
    return 0
  fi
  tail -n 20 "$out" >&2 || true
  die "apt-get install -y $* failed (full output: $out)"
}

# with_lock FILE TIMEOUT_SECONDS -- takes an exclusive flock on FILE, held on a
# fresh fd (stored in KORTIX_LOCK_FD) until the script exits. One lock per
# script: later calls are no-ops. Anything started in the background afterwards
# must close that fd (`cmd {KORTIX_LOCK_FD}>&-`), or it would keep the lock.
with_lock() {
  local file=$1 timeout=$2
  [[ -z "${KORTIX_LOCK_FD:-}" ]] || return 0
  command -v flock >/dev/null 2>&1 || die "flock not found (install util-linux)"
  mkdir_p "$(dirname "$file")"
  exec {KORTIX_LOCK_FD}>>"$file"
  if ! flock -n "$KORTIX_LOCK_FD"; then
    log "waiting for another provisioning run to release $file (up to ${timeout}s)"
    flock -w "$timeout" "$KORTIX_LOCK_FD" || die "timed out waiting for lock $file"
  fi
}

# close_extra_fds -- (use in a subshell) close every fd above 2, so whatever
# is started from there keeps no pipe or lock of its caller open.
close_extra_fds() {
  local fd n
  for fd in /proc/self/fd/*; do
    n="${fd##*/}"
    if [[ "$n" =~ ^[0-9]+$ ]] && ((n > 2)); then
      eval "exec $n>&-" 2>/dev/null || true
    fi
  done
}

# exec_detached CMD... -- (use in a subshell) close_extra_fds, then exec CMD in
# a new session.
exec_detached() {
  close_extra_fds
  exec setsid "$@"
}

# short_hash STRING -> 10 hex chars.
short_hash() {
  printf '%s' "$1" | sha256sum | cut -c1-10
}

# elapsed_since START_EPOCH_NS -> "1.23s"
now_ns() { date +%s%N; }
elapsed_since() {
  local ms=$((($(now_ns) - $1) / 1000000))
  printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10))
}

# --- tools built once from the Go module proxy --------------------------------
# The scripts that build a binary (temporal.sh, temporal-server.sh, ollama.sh,
# s3.sh) share these: which go, is it new enough, and `go install` into the
# cache without ever leaving a half-written binary there.

# find_go -> the Go toolchain (go on PATH, else /usr/local/go/bin/go); fails (prints nothing) when there is none.
find_go() {
  local go_bin
  go_bin="$(command -v go 2>/dev/null || true)"
  [[ -z "$go_bin" && -x /usr/local/go/bin/go ]] && go_bin=/usr/local/go/bin/go
  [[ -n "$go_bin" ]] || return 1
  printf '%s\n' "$go_bin"
}

# warn_old_go GO_BIN MIN_MINOR WHAT -- warns when GO_BIN is older than go1.MIN_MINOR (go may still fetch a
# newer toolchain itself via GOTOOLCHAIN=auto, so it is not fatal).
warn_old_go() {
  local go_version go_minor
  go_version="$("$1" env GOVERSION 2>/dev/null || true)" # e.g. go1.26.0
  go_minor="$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$go_version")"
  if [[ -z "$go_minor" ]]; then
    warn "could not tell the version of $1 (${go_version:-unknown}); trying anyway"
  elif ((go_minor < $2)); then
    warn "$1 is $go_version; $3 needs Go >= 1.$2 (go may fetch a newer toolchain itself via GOTOOLCHAIN=auto)"
  fi
}

# go_install_cached GO_BIN MODULE/CMD@VERSION DEST LOG -- `go install` (niced: the cores are shared) into a
# staging directory beside DEST, then an atomic mv to DEST. Output is appended to LOG; on failure its tail
# goes to stderr and the call returns 1 (the caller says what to do instead). Variables set on the call
# (CGO_ENABLED=0 go_install_cached ...) reach go.
go_install_cached() {
  local go_bin=$1 module=$2 dest=$3 build_log=$4 stage built
  stage="$(dirname "$dest")/.build-$(basename "$dest")-$$"
  mkdir_p "$stage"
  # Expanded now (the path is fixed): a killed build leaves no staging directory behind.
  trap "rm -rf $(shell_quote "$stage")" EXIT
  if ! GOBIN="$stage" nice -n 10 "$go_bin" install "$module" >>"$build_log" 2>&1; then
    rm -rf "$stage"
    tail -n 20 "$build_log" >&2 || true
    return 1
  fi
  built="$stage/$(basename "${module%@*}")"
  if [[ ! -x "$built" ]]; then
    rm -rf "$stage"
    warn "go install $module succeeded but produced no $built"
    return 1
  fi
  mv -f "$built" "$dest" # atomic: never a half-written binary in the cache
  rm -rf "$stage"
  trap - EXIT
}
