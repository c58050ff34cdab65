#!/usr/bin/env bash
# Finds (or installs from Debian's packages) the Chromium the browser tests
# drive with playwright-core: no browser is downloaded at test time.
#
#   eval "$(scripts/provision/chromium.sh)"
#
# Stdout:
#   export CHROMIUM_BIN='<path>'
#
# $CHROMIUM_BIN if executable -> `chromium` on PATH -> as root on
# Debian/Ubuntu, `apt-get install --no-install-recommends chromium`
# (serialized with flock). Not root -> fails naming the package to install.
set -euo pipefail
PROVISION_NAME=chromium
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_chromium() {
  local given="${CHROMIUM_BIN:-}"
  if [[ -n "$given" && -x "$given" && ! -d "$given" ]]; then
    printf '%s\n' "$given"
    return 0
  fi
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}

if [[ -n "${CHROMIUM_BIN:-}" && ! (-x "$CHROMIUM_BIN" && ! -d "$CHROMIUM_BIN") ]]; then
  warn "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file; ignoring it"
fi

if ! find_chromium >/dev/null; then
  with_lock "$KORTIX_CACHE_DIR/locks/chromium.lock" 900
  # Another run may have installed it while we waited.
  if ! find_chromium >/dev/null; then
    if ! is_root || ! is_debian; then
      die "missing: chromium. Install it (Debian: sudo apt-get install --no-install-recommends chromium) or set CHROMIUM_BIN"
    fi
    apt_install --no-install-recommends chromium
  fi
fi

path="$(find_chromium)" || die "chromium not found after installing its package"
log "$("$path" --version 2>/dev/null | head -n1)"
emit CHROMIUM_BIN "$path"
