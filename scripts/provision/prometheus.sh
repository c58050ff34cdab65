#!/usr/bin/env bash
# Finds (or installs from Debian's packages) the tools the observability tests
# run: promtool (rule checks and rule unit tests), prometheus (a real server
# in the integration test), amtool (checks the Alertmanager config) and
# docker-compose (validates the compose files).
#
#   eval "$(scripts/provision/prometheus.sh)"
#
# Stdout:
#   export PROMETHEUS_BIN='<path>'
#   export PROMTOOL_BIN='<path>'
#   export AMTOOL_BIN='<path>'
#   export DOCKER_COMPOSE_BIN='<path>'
#
# Each tool: $<NAME>_BIN if executable -> on PATH -> as root on Debian/Ubuntu,
# `apt-get install --no-install-recommends` of its package (prometheus,
# prometheus-alertmanager, docker-compose; serialized with flock). The
# packages are installed for their binaries: on a systemd machine the
# prometheus and prometheus-alertmanager services they enable are stopped and
# disabled again (only when this script installed them). Not root -> fails
# naming the packages to install.
set -euo pipefail
PROVISION_NAME=prometheus
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# VAR binary package [systemd service the package starts]
TOOLS=(
  "PROMETHEUS_BIN prometheus prometheus prometheus"
  "PROMTOOL_BIN promtool prometheus -"
  "AMTOOL_BIN amtool prometheus-alertmanager prometheus-alertmanager"
  "DOCKER_COMPOSE_BIN docker-compose docker-compose -"
)

# find_tool VAR BINARY -> prints the path ($VAR when executable, else PATH), or fails.
find_tool() {
  local var=$1 bin=$2 given
  given="${!var:-}"
  if [[ -n "$given" && -x "$given" && ! -d "$given" ]]; then
    printf '%s\n' "$given"
    return 0
  fi
  command -v "$bin" 2>/dev/null
}

for entry in "${TOOLS[@]}"; do
  read -r var _bin _pkg _service <<<"$entry"
  given="${!var:-}"
  if [[ -n "$given" && ! (-x "$given" && ! -d "$given") ]]; then
    warn "$var=$given is not an executable file; ignoring it"
  fi
done

missing_packages() {
  local entry var bin pkg _service
  for entry in "${TOOLS[@]}"; do
    read -r var bin pkg _service <<<"$entry"
    find_tool "$var" "$bin" >/dev/null || printf '%s\n' "$pkg"
  done | sort -u
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} > 0)); then
  with_lock "$KORTIX_CACHE_DIR/locks/prometheus.lock" 600
  # Another run may have installed them while we waited.
  mapfile -t missing < <(missing_packages)
fi
if ((${#missing[@]} > 0)); then
  if ! is_root || ! is_debian; then
    die "missing: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}) or set PROMETHEUS_BIN / PROMTOOL_BIN / AMTOOL_BIN / DOCKER_COMPOSE_BIN"
  fi
  apt_install --no-install-recommends "${missing[@]}"
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    for entry in "${TOOLS[@]}"; do
      read -r _var _bin pkg service <<<"$entry"
      if [[ "$service" != "-" && " ${missing[*]} " == *" $pkg "* ]]; then
        log "stopping and disabling the $service service that the package started (only its binaries are needed)"
        systemctl disable --now "$service" >&2 || warn "could not stop $service"
      fi
    done
  fi
fi

for entry in "${TOOLS[@]}"; do
  read -r var bin _pkg _service <<<"$entry"
  path="$(find_tool "$var" "$bin")" || die "$bin not found after installing its package"
  emit "$var" "$path"
  [[ "$var" != PROMTOOL_BIN ]] || log "promtool: $("$path" --version 2>&1 | head -n1)"
done
