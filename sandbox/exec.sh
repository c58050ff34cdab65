#!/usr/bin/env bash
# Runs one shell tool call inside a sandbox; see sandbox/exec-script.ts.
# Usage: bash -c "$(cat exec.sh)" kortix-exec KEY TIMEOUT_SECONDS LIMIT_BYTES COMMAND
set -u
key=$1 t=$2 lim=$3 cmd=$4
base=/tmp/.kortix-exec
d="$base/$key"
mkdir -p "$base" 2>/dev/null

kill_all_but_readers() {
  local keep=" 1 $$ $c1 $c2 " p stat round
  for round in 1 2 3; do
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      read -r stat 2>/dev/null < "/proc/$p/stat" || continue
      set -- ${stat##*) }
      case " $c1 $c2 " in *" $2 "*) keep="$keep$p " ;; esac
    done
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      case "$keep" in *" $p "*) continue ;; esac
      kill -KILL "$p" 2>/dev/null
    done
  done
}

if mkdir "$d" 2>/dev/null; then
  mkfifo "$d/o" "$d/e"
  { head -c "$((lim + 1))" > "$d/out"; cat > /dev/null; } < "$d/o" &
  c1=$!
  { head -c "$((lim + 1))" > "$d/err"; cat > /dev/null; } < "$d/e" &
  c2=$!
  sleep "$t" &
  wd=$!
  cd /workspace 2>/dev/null || cd /tmp
  setsid bash -c "$cmd" < /dev/null > "$d/o" 2> "$d/e" &
  pid=$!
  # bash >= 5.1: returns when the command or the timer ends, whichever is first.
  wait -n "$pid" "$wd"
  if kill -0 "$pid" 2>/dev/null; then
    : > "$d/timedout"
    kill_all_but_readers
    wait "$pid" 2>/dev/null
    rc=124
  else
    wait "$pid"
    rc=$?
    kill "$wd" 2>/dev/null
  fi
  # The readers end when the last writer closes the pipe; a background child
  # may hold it open, so wait a little, not forever.
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
    kill -0 "$c1" 2>/dev/null || kill -0 "$c2" 2>/dev/null || break
    sleep 0.02
  done
  echo "$rc" > "$d/rc.tmp" && mv "$d/rc.tmp" "$d/rc"
else
  waited=0
  limit=$(( (t + 30) * 20 ))
  while [ ! -e "$d/rc" ]; do
    sleep 0.05
    waited=$((waited + 1))
    if [ "$waited" -gt "$limit" ]; then echo "KORTIX-EXEC-LOST"; exit 98; fi
  done
fi

to=0
[ -e "$d/timedout" ] && to=1
os=$(stat -c %s "$d/out" 2>/dev/null || echo 0)
es=$(stat -c %s "$d/err" 2>/dev/null || echo 0)
printf 'KORTIX-EXEC %s %s %s %s\n' "$(cat "$d/rc")" "$to" "$os" "$es"
head -c "$lim" "$d/out" 2>/dev/null
head -c "$lim" "$d/err" 2>/dev/null
exit 0
