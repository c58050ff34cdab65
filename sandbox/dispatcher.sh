#!/usr/bin/env bash
# The persistent exec channel's end inside a sandbox; see sandbox/exec-channel.ts.
# Usage: docker exec -i … bash -c "$(cat dispatcher.sh)" kortix-channel EXEC_SCRIPT MARKER
#
# Reads one request a line on stdin, fields separated by spaces, each field
# prefixed with "_" and escaped as \xHH where needed (decoded with printf %b):
#   P <id>                                        health check: status 0 while nobody claimed the sandbox
#   W <id>                                        prepares what exec.sh makes on its first call (while idle)
#   C <id> <session> <tenant>                     claims it: status 0 for the one claim that created
#                                                 the claim record (O_EXCL), 1 for any other
#   X <id> <key> <timeout> <limit> <env> <cmd>    runs exec.sh, <env> holds NAME=value lines
# and answers each with whatever exec.sh printed, then "\n<MARKER> <id> <status>\n".
# One request at a time; the host opens a one-shot `docker exec` when it is busy.
marker=$2
# exec.sh, parsed once: each request runs it in a subshell (a fork, no exec).
eval "kortix_exec() {
$1
}"
# exec.sh's loadable builtins, loaded here once rather than in each request's subshell.
{ enable -f /usr/lib/bash/stat stat && enable -f /usr/lib/bash/setpgid setpgid; } 2>/dev/null
set -f
while IFS=' ' read -r op id key t lim envs cmd; do
  case "$op" in
    P)
      [ ! -e /tmp/.kortix-claim ]
      status=$?
      ;;
    W)
      mkdir -p /tmp/.kortix-exec && { [ -p /tmp/.kortix-exec/.tick ] || mkfifo /tmp/.kortix-exec/.tick; }
      status=$?
      ;;
    C)
      # noclobber: of all redirections to the file, the one that creates it wins (O_EXCL).
      set -C
      { printf '%b\n%b\n' "${key#_}" "${t#_}" > /tmp/.kortix-claim; } 2>/dev/null
      status=$?
      set +C
      ;;
    X)
      printf -v envs '%b' "${envs#_}"
      printf -v cmd '%b' "${cmd#_}"
      (
        IFS=$'\n'
        for kv in $envs; do export "$kv"; done
        unset IFS
        set +f
        kortix_exec "${key#_}" "${t#_}" "${lim#_}" "$cmd"
      ) < /dev/null
      status=$?
      ;;
    *) status=2 ;;
  esac
  printf '\n%s %s %s\n' "$marker" "$id" "$status"
done
