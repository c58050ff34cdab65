#!/usr/bin/env bash
# Ensures a reachable Docker engine and (unless SKIP_SANDBOX_IMAGE=1) the
# sandbox image.
#
#   eval "$(scripts/provision/docker.sh)"
#
# Stdout:
#   export DOCKER_READY='1'
#   export SANDBOX_IMAGE='<image>'     (${SANDBOX_IMAGE:-kortix/sandbox:dev})
#   export DOCKER_USERNS='remap'|'off' (whether the engine runs containers in a user namespace)
#
# If `docker info` fails: as root on Debian/Ubuntu, installs docker.io when
# dockerd is missing, then starts dockerd (systemctl when systemd runs, else a
# detached background dockerd logging to <data>/dockerd.log) and waits up to
# 60 s. Otherwise fails with instructions. Respects DOCKER_HOST.
#
# User namespaces (KORTIX_DOCKER_USERNS=auto|remap|off, default auto): with
# dockerd's `userns-remap`, uid 1000 in a sandbox is a subordinate uid of the
# host (dockremap's range in /etc/subuid), not the host's uid 1000. Before it
# starts dockerd, this script writes "userns-remap": "default" into
# /etc/docker/daemon.json when `remap`, or when `auto` and Docker has no state
# yet (a bare machine): the setting then holds for every later start, by this
# script or by systemd. An engine that already ran without it keeps its mode
# under `auto`: remapping switches to another image and container store (the
# sandbox image is then rebuilt in it), which is a decision to take on purpose
# (KORTIX_DOCKER_USERNS=remap, then restart dockerd).
set -euo pipefail
PROVISION_NAME=docker
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

image="${SANDBOX_IMAGE:-kortix/sandbox:dev}"
default_sock=/var/run/docker.sock
wait_seconds=60

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

daemon_json=/etc/docker/daemon.json
userns_mode="${KORTIX_DOCKER_USERNS:-auto}"
case "$userns_mode" in auto | remap | off) ;; *) die "KORTIX_DOCKER_USERNS=$userns_mode: use auto, remap or off" ;; esac

# True when daemon.json already chooses a userns-remap setting (any value).
userns_configured() { [[ -r "$daemon_json" ]] && grep -q '"userns-remap"' "$daemon_json"; }

# Writes "userns-remap": "default" into daemon.json (keeping its other settings)
# when the mode asks for it; see the header.
configure_userns() {
  [[ "$userns_mode" != off ]] || return 0
  if userns_configured; then
    log "daemon.json sets userns-remap already"
    return 0
  fi
  if [[ "$userns_mode" == auto && -d /var/lib/docker/image ]]; then
    warn "Docker has state already (/var/lib/docker) and runs without userns-remap: sandboxes keep host uids. Set KORTIX_DOCKER_USERNS=remap and restart dockerd to switch (the image store starts empty)."
    return 0
  fi
  if ! unshare --user --map-root-user true 2>/dev/null; then
    warn "this kernel offers no user namespaces (unshare --user failed): dockerd runs without userns-remap"
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || { warn "python3 is needed to edit $daemon_json: dockerd runs without userns-remap"; return 0; }
  mkdir_p "$(dirname "$daemon_json")"
  python3 - "$daemon_json" <<'PY' || die "cannot write userns-remap into $daemon_json"
import json, os, sys
path = sys.argv[1]
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) > 0 else {}
config["userns-remap"] = "default"
tmp = path + ".kortix-tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
  log "set userns-remap=default in $daemon_json: sandboxes run in a user namespace (dockerd creates the dockremap user)"
}

# The unix socket dockerd should listen on, or "" when DOCKER_HOST points
# somewhere we cannot start an engine for (tcp://, ssh://, ...).
target_socket() {
  local host="${DOCKER_HOST:-}"
  case "$host" in
    "") printf '%s\n' "$default_sock" ;;
    unix://*) printf '%s\n' "${host#unix://}" ;;
    *) printf '\n' ;;
  esac
}

start_dockerd() {
  local sock=$1 logf started
  if pgrep -x dockerd >/dev/null 2>&1 && [[ "$sock" == "$default_sock" ]]; then
    DOCKERD_PID="$(pgrep -x dockerd | head -n1)"
    log "dockerd is running (pid $DOCKERD_PID) but not answering yet; waiting"
    return 0
  fi
  if [[ "$sock" == "$default_sock" && -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    log "starting dockerd (systemctl start docker)"
    if systemctl start docker >&2; then
      return 0
    fi
    warn "systemctl start docker failed; starting dockerd directly"
  fi
  if mkdir_p "$KORTIX_DATA_DIR" 2>/dev/null && [[ -w "$KORTIX_DATA_DIR" ]]; then
    logf="$KORTIX_DATA_DIR/dockerd.log"
  else
    logf=/var/log/kortix-dockerd.log
  fi
  local args=()
  [[ "$sock" != "$default_sock" ]] && args+=(-H "unix://$sock")
  log "starting dockerd in the background (log: $logf)"
  started="$(date '+%F %T')"
  printf '\n=== %s: started by scripts/provision/docker.sh ===\n' "$started" >>"$logf"
  # New session (setsid), no controlling terminal, no inherited stdio or other
  # fds (e.g. our lock): it survives the caller's exit and Ctrl-C, and
  # `$(docker.sh)` does not wait on it.
  (exec_detached nohup dockerd "${args[@]}" </dev/null >>"$logf" 2>&1) &
  disown || true
  DOCKERD_LOG="$logf"
}

if ! command -v docker >/dev/null 2>&1; then
  if is_root && is_debian; then
    log "docker CLI not found"
    apt_install docker.io
  else
    die "the docker CLI is not installed. Install Docker (https://docs.docker.com/engine/install/) and start it."
  fi
fi

lock_file="$KORTIX_CACHE_DIR/locks/docker.lock"
if ! docker_ok; then
  # Serialize with concurrent runs, which may be starting the same daemon.
  with_lock "$lock_file" 600
fi
if docker_ok; then
  log "Docker engine reachable${DOCKER_HOST:+ at $DOCKER_HOST}"
else
  sock="$(target_socket)"
  [[ -n "$sock" ]] || die "DOCKER_HOST=$DOCKER_HOST does not answer (\`docker info\` failed). Start that engine, or unset DOCKER_HOST to use a local one."
  if [[ -S "$sock" && ! -w "$sock" ]]; then
    log "socket $sock exists but this user ($(id -un)) may not use it"
  elif [[ -S "$sock" ]]; then
    log "socket $sock exists but the daemon does not answer"
  else
    log "no Docker daemon (no socket at $sock)"
  fi
  if ! is_root; then
    die "the Docker engine is not reachable as $(id -un), and starting one needs root. Start Docker (e.g. \`sudo systemctl start docker\`, or Docker Desktop) and make sure your user can reach it (\`docker info\`; e.g. add yourself to the docker group), then re-run."
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    is_debian || die "dockerd is not installed and this is not a Debian/Ubuntu system; install Docker Engine and start it."
    log "dockerd not found"
    apt_install docker.io
  fi
  DOCKERD_LOG=""
  DOCKERD_PID=""
  configure_userns
  start_dockerd "$sock"
  t0="$(now_ns)"
  for ((i = 0; i < wait_seconds; i++)); do
    docker_ok && break
    sleep 1
  done
  if ! docker_ok; then
    [[ -n "$DOCKERD_LOG" ]] && tail -n 20 "$DOCKERD_LOG" >&2
    [[ -n "$DOCKERD_PID" ]] &&
      die "dockerd (pid $DOCKERD_PID, not started by this script) runs but did not answer within ${wait_seconds}s; check or restart it"
    die "the Docker daemon did not answer within ${wait_seconds}s${DOCKERD_LOG:+ (log: $DOCKERD_LOG)}"
  fi
  log "Docker engine ready after $(elapsed_since "$t0")"
fi

if [[ "${SKIP_SANDBOX_IMAGE:-0}" == "1" ]]; then
  log "SKIP_SANDBOX_IMAGE=1: not checking the sandbox image $image"
else
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    with_lock "$lock_file" 1800 # one image build at a time
    # build-image.sh falls back to debootstrap when no registry answers; have
    # it ready (it would install it itself, without an apt-get update fallback).
    if ! command -v debootstrap >/dev/null 2>&1 && is_root && is_debian &&
      ! docker image inspect kortix/sandbox-base:bookworm >/dev/null 2>&1; then
      apt_install debootstrap
    fi
    log "building the sandbox image $image (sandbox/build-image.sh; a few minutes the first time)"
  fi
  SANDBOX_IMAGE="$image" bash "$KORTIX_REPO_ROOT/sandbox/build-image.sh" >&2 ||
    die "sandbox/build-image.sh failed to provide $image"
fi

if docker info --format '{{json .SecurityOptions}}' 2>/dev/null | grep -q 'name=userns'; then
  log "the engine runs containers in a user namespace (userns-remap)"
  userns=remap
  # Every remapped container's root is the same host uid (dockremap's first subordinate uid), and the kernel's
  # key quota for a non-root uid (kernel.keys.maxkeys, 200 by default) is shared by all of them: runc's session
  # keyring per container exhausts it near 200 sandboxes and creation fails with EDQUOT (seen in the 200-session
  # throughput bench). Give that uid root's quota.
  if is_root; then
    for key in maxkeys maxbytes; do
      want="$(cat "/proc/sys/kernel/keys/root_$key" 2>/dev/null || true)"
      have="$(cat "/proc/sys/kernel/keys/$key" 2>/dev/null || true)"
      if [[ -n "$want" && -n "$have" && "$have" -lt "$want" ]]; then
        if sysctl -qw "kernel.keys.$key=$want" 2>/dev/null; then
          log "kernel.keys.$key $have -> $want (one key quota shared by every remapped sandbox)"
        else
          warn "could not raise kernel.keys.$key from $have: about $have sandboxes at once under userns-remap"
        fi
      fi
    done
  fi
else
  userns=off
  if [[ "$userns_mode" == remap ]]; then
    is_root && configure_userns
    warn "KORTIX_DOCKER_USERNS=remap, but the running engine does not remap users: restart dockerd to apply $daemon_json"
  fi
fi

emit DOCKER_READY 1
emit SANDBOX_IMAGE "$image"
emit DOCKER_USERNS "$userns"
