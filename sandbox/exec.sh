#!/usr/bin/env bash
# Runs one shell tool call inside a sandbox; see sandbox/exec-script.ts.
# Usage: bash -c "$(cat exec.sh)" kortix-exec KEY TIMEOUT_SECONDS LIMIT_BYTES COMMAND
# The persistent channel's dispatcher (sandbox/dispatcher.sh) runs the same
# text as a function, in a subshell of its own: hence $BASHPID, never $$.
set -u
key=$1 t=$2 lim=$3 cmd=$4
base=/tmp/.kortix-exec
d="$base/$key"
me=$BASHPID
[ -d "$base" ] || mkdir -p "$base" 2>/dev/null

# Kills every process of the container except PID 1, this script, its
# ancestors (the channel's dispatcher) and its output readers. Each round
# stops (SIGSTOP) what it has not stopped yet, until a round finds nothing new,
# so a fork bomb cannot outrun it; then everything stopped is killed.
kill_all_but_readers() {
  local keep=" 1 $me $c1 $c2 " stopped=" " p stat round found
  read -r stat 2>/dev/null < "/proc/$me/stat" && set -- ${stat##*) } && p=$2
  while [ "${p:-0}" -gt 1 ] 2>/dev/null; do
    keep="$keep$p "
    read -r stat 2>/dev/null < "/proc/$p/stat" || break
    set -- ${stat##*) }
    p=$2
  done
  for ((round = 0; round < 100; round++)); do
    found=0
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      case "$keep$stopped" in *" $p "*) continue ;; esac
      read -r stat 2>/dev/null < "/proc/$p/stat" || continue
      set -- ${stat##*) }
      # The readers' own children (head, cat) are readers too.
      case " $c1 $c2 " in *" $2 "*) keep="$keep$p " ; continue ;; esac
      kill -STOP "$p" 2>/dev/null && found=1
      stopped="$stopped$p "
    done
    [ "$found" = 0 ] && break
  done
  for p in $stopped; do kill -KILL "$p" 2>/dev/null; done
}

# A fifo nobody writes, held open for reading and writing: `read -t` on it is
# a sleep without a fork. Made once per container, shared by every call.
tick="$base/.tick"
[ -p "$tick" ] || mkfifo "$tick" 2>/dev/null
exec 9<> "$tick"

# The first attempt for KEY creates its lock file (noclobber: O_EXCL, no fork);
# a retried activity finds it and waits for the first attempt's result.
set -C
{ : > "$d.lock"; } 2>/dev/null
first=$?
set +C
if [ "$first" = 0 ]; then
  # The timer, then one reader per stream: each keeps LIMIT+1 bytes, written as
  # they come (unbuffered: a background child may keep the pipe open long after
  # the command), and drains the rest only if there is more.
  { read -r -t "$t" -u 9 _ || :; } &
  wd=$!
  exec 3> >(exec 9>&-; stdbuf -o0 head -c "$((lim + 1))" > "$d.out"; read -r -N 1 _ && exec cat > /dev/null)
  c1=$!
  exec 4> >(exec 3>&- 9>&-; stdbuf -o0 head -c "$((lim + 1))" > "$d.err"; read -r -N 1 _ && exec cat > /dev/null)
  c2=$!
  cd /workspace 2>/dev/null || cd /tmp
  setsid bash -c "$cmd" < /dev/null >&3 2>&4 3>&- 4>&- 9>&- &
  pid=$!
  # From here only the command (and what it starts) holds the pipes.
  exec 3>&- 4>&-
  # bash >= 5.1: returns when the command or the timer ends, whichever is first.
  wait -n "$pid" "$wd"
  if kill -0 "$pid" 2>/dev/null; then
    : > "$d.timedout"
    kill_all_but_readers
    wait "$pid" 2>/dev/null
    rc=124
  else
    wait "$pid"
    rc=$?
    kill "$wd" 2>/dev/null
  fi
  # The readers end when the last writer closes the pipe; a background child
  # may hold it open, so wait a little (0.3 s), not forever.
  for ((i = 0; i < 300; i++)); do
    kill -0 "$c1" 2>/dev/null || kill -0 "$c2" 2>/dev/null || break
    read -r -t 0.001 -u 9 _
  done
  # One write of a few bytes: a waiter that sees a non-empty file sees all of it.
  echo "$rc" > "$d.rc"
else
  waited=0
  limit=$(( (t + 30) * 20 ))
  while [ ! -s "$d.rc" ]; do
    read -r -t 0.05 -u 9 _
    waited=$((waited + 1))
    if [ "$waited" -gt "$limit" ]; then echo "KORTIX-EXEC-LOST"; exit 98; fi
  done
  read -r rc < "$d.rc"
fi
exec 9>&-

to=0
[ -e "$d.timedout" ] && to=1
os=0 es=0
# `test -s` is a builtin: stat runs only when there is output to measure.
if [ -s "$d.out" ] || [ -s "$d.err" ]; then
  sizes=$(stat -c %s "$d.out" "$d.err" 2>/dev/null) || sizes=$'0\n0'
  os=${sizes%%$'\n'*}
  es=${sizes##*$'\n'}
fi
printf 'KORTIX-EXEC %s %s %s %s\n' "$rc" "$to" "$os" "$es"
if [ "$os" -le "$lim" ] && [ "$es" -le "$lim" ]; then
  [ "$os" -gt 0 ] || [ "$es" -gt 0 ] && cat "$d.out" "$d.err" 2>/dev/null
else
  head -c "$lim" "$d.out" 2>/dev/null
  head -c "$lim" "$d.err" 2>/dev/null
fi
exit 0
