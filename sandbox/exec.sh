#!/usr/bin/env bash
# Runs one shell tool call inside a sandbox; see sandbox/exec-script.ts.
# Usage: bash -c "$(cat exec.sh)" kortix-exec KEY TIMEOUT_SECONDS LIMIT_BYTES[:KEEP_BYTES] COMMAND
# KEEP_BYTES (default LIMIT_BYTES): how much of each stream the capture files
# keep, so that the host can store the whole output as an artifact; at most
# LIMIT_BYTES of each are printed.
# The persistent channel's dispatcher (sandbox/dispatcher.sh) runs the same
# text as a function, in a subshell of its own: hence $BASHPID, never $$.
set -u
key=$1 t=$2 lim=${3%%:*} keep=${3#*:} cmd=$4
base=/tmp/.kortix-exec
stdbuf_lib=/usr/libexec/coreutils/libstdbuf.so
d="$base/$key"
me=$BASHPID
[ -d "$base" ] || mkdir -p "$base" 2>/dev/null
# Debian's loadable builtins (bash-builtins, in the image): `stat` and
# `setpgid` without a fork and an exec each (~1.6 and ~0.7 ms of a call's CPU
# here). Loaded once per process: the channel's subshells inherit them. Where
# they are not, the external commands do the same work.
if enable stat setpgid 2>/dev/null || { enable -f /usr/lib/bash/stat stat && enable -f /usr/lib/bash/setpgid setpgid; } 2>/dev/null; then
  loaded=1
else
  loaded=0
fi

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
# A command may have replaced it (with a link to /dev/zero, say): make it again.
if ! [ -p "$tick" ] || [ -L "$tick" ]; then rm -f "$tick" && mkfifo "$tick"; fi 2>/dev/null
exec 9<> "$tick"

# The first attempt for KEY creates its lock file (noclobber: O_EXCL, no fork);
# a retried activity finds it and waits for the first attempt's result.
# Anything already at a name (a symlink or fifo planted by an earlier command,
# which runs as the same user) is never opened for writing: noclobber opens
# an existing non-regular file, and a fifo would block.
planted() { [ -e "$1" ] || [ -L "$1" ]; }
set -C
first=1
if ! planted "$d.lock" && { : > "$d.lock"; } 2>/dev/null; then first=0; fi
if [ "$first" = 0 ]; then
  # The capture files are created here with O_EXCL (never through a link
  # someone planted) and opened for reading at once through /dev/fd, which
  # reopens the same inode: whatever the command later does to the names
  # (a symlink to /dev/zero, a fifo), this script reads what it captured.
  if planted "$d.out" || planted "$d.err" || ! { exec 5> "$d.out" 6> "$d.err"; } 2>/dev/null; then
    set +C
    echo "KORTIX-EXEC-LOST capture files exist already"
    exit 97
  fi
  set +C
  exec 7< /dev/fd/5 8< /dev/fd/6
  # The timer, then one reader per stream: each keeps KEEP+1 bytes, written as
  # they come (unbuffered: a background child may keep the pipe open long after
  # the command), and drains the rest only if there is more.
  # At the timeout the timer signals this shell, again every 0.1 s until it is
  # killed: a signal that lands just before the `wait` below starts is followed
  # by one that ends it. The timer sleeps on the fifo until its deadline by the
  # clock, so a line the command writes into the fifo cannot end it early or
  # call it off. The trap stays for the rest of the script (USR1's default
  # would end it).
  timed_out=0
  trap 'timed_out=1' USR1
  {
    exec 5>&- 6>&- 7<&- 8<&-
    now=${EPOCHREALTIME//[!0-9]/}
    case $t in *.*) frac=${t#*.}000000 ;; *) frac=000000 ;; esac
    end=$((now + 10#${t%%.*} * 1000000 + 10#${frac:0:6}))
    while ((now < end)); do
      printf -v left '%d.%06d' $(((end - now) / 1000000)) $(((end - now) % 1000000))
      read -r -t "$left" -u 9 _
      now=${EPOCHREALTIME//[!0-9]/}
    done
    while kill -USR1 "$me" 2>/dev/null; do read -r -t 0.1 -u 9 _; done
  } &
  wd=$!
  # Out of the job table: never waited for (a command can stop it, and a wait
  # on it would then hang), and no report of its end on stderr.
  disown "$wd"
  # Unbuffered as `stdbuf -o0` makes it (coreutils' preload and its variable),
  # without stdbuf's own exec: an exec is ~1.5 ms of a call's CPU here.
  # Where the library is not at Debian's path, stdbuf finds it.
  if [ -f "$stdbuf_lib" ]; then unbuffered() { LD_PRELOAD=$stdbuf_lib _STDBUF_O=0 "$@"; }; else unbuffered() { stdbuf -o0 "$@"; }; fi
  # A reader's copy of the first N bytes of its stream to stdout, as they
  # come. Most commands print a little and end at once, and most leave
  # stderr empty: bash's `read` takes up to 256 bytes while the stream pauses
  # no more than 0.2 s in all, with no exec; the rest goes to `head`
  # (~4 us a byte here against ~1-3 ms for an exec). `read -d ''` stops at a
  # NUL, which it drops (written back here), at the end, or at its 0.05 s
  # timeout with what came so far, which is written at once: a background
  # child may keep the pipe open long after the command.
  capture() {
    local left=$1 budget=256 waits=4 rec rc n
    LC_ALL=C
    while ((left > 0)); do
      if ((budget <= 0 || waits <= 0)); then unbuffered head -c "$left"; return; fi
      IFS= read -r -d '' -t 0.05 rec
      rc=$? n=${#rec}
      if ((n >= left)); then printf '%s' "${rec:0:left}"; return; fi
      printf '%s' "$rec"
      left=$((left - n)) budget=$((budget - n))
      if [ "$rc" = 0 ]; then
        printf '\0'
        left=$((left - 1)) budget=$((budget - 1))
      elif ((rc > 128)); then
        waits=$((waits - 1))
      else
        return
      fi
    done
  }
  exec 3> >(exec 6>&- 7<&- 8<&- 9>&-; capture "$((keep + 1))" >&5; exec 5>&-; read -r -N 1 _ && exec cat > /dev/null)
  c1=$!
  exec 4> >(exec 3>&- 5>&- 7<&- 8<&- 9>&-; capture "$((keep + 1))" >&6; exec 6>&-; read -r -N 1 _ && exec cat > /dev/null)
  c2=$!
  exec 5>&- 6>&-
  cd /workspace 2>/dev/null || cd /tmp
  # In a process group of its own: a `kill 0` in the command (a script's
  # cleanup trap, say) reaches the command's processes, not this script.
  if [ "$loaded" = 1 ]; then
    (setpgid 0 0; exec bash -c "$cmd") < /dev/null >&3 2>&4 3>&- 4>&- 7<&- 8<&- 9>&- &
  else
    setsid bash -c "$cmd" < /dev/null >&3 2>&4 3>&- 4>&- 7<&- 8<&- 9>&- &
  fi
  pid=$!
  # From here only the command (and what it starts) holds the pipes.
  exec 3>&- 4>&-
  # The command's status, or the timer's signal cuts the wait short. Not
  # `wait -n "$pid" "$wd"`: bash 5.2's `wait -n` passes over a job that ended
  # and was already marked as reported, and so returned only when the timer
  # ended: ~0.2 % of quick commands took their whole timeout (60 s by default).
  wait "$pid"
  rc=$?
  over=$timed_out
  kill "$wd" 2>/dev/null
  # Past the deadline: the command still runs, or the signal cut the wait short
  # (138) as it ended, which leaves its status unknown. Either is a timeout. A
  # command that ended before the signal keeps its status.
  if [ "$over" = 1 ] && { kill -0 "$pid" 2>/dev/null || [ "$rc" = 138 ]; }; then
    { : 1<> "$d.timedout"; } 2>/dev/null
    kill_all_but_readers
    wait "$pid" 2>/dev/null
    rc=124
  fi
  # The readers end when the last writer closes the pipe; a background child
  # may hold it open, so wait a little (0.3 s), not forever.
  readers=1
  for ((i = 0; i < 300; i++)); do
    kill -0 "$c1" 2>/dev/null || kill -0 "$c2" 2>/dev/null || { readers=0; break; }
    read -r -t 0.001 -u 9 _
  done
  # One write of a few bytes: a waiter that sees a non-empty file sees all of it.
  # (<> : read-write opens a planted fifo without blocking.)
  { echo "$rc" 1<> "$d.rc"; } 2>/dev/null
else
  set +C
  # The first attempt's readers may still write the files.
  readers=1
  waited=0
  limit=$(( (t + 30) * 20 ))
  while [ ! -s "$d.rc" ]; do
    [ -L "$d.rc" ] && { echo "KORTIX-EXEC-LOST status file replaced"; exit 98; }
    read -r -t 0.05 -u 9 _
    waited=$((waited + 1))
    if [ "$waited" -gt "$limit" ]; then echo "KORTIX-EXEC-LOST"; exit 98; fi
  done
  # Every file of KEY may have been replaced by the command (same uid): open
  # read-write (a fifo does not block), read only what is a regular file
  # (checked on the open descriptor, so no later swap matters), and only a few bytes.
  { exec 7<> "$d.rc"; } 2>/dev/null && [ -f /dev/fd/7 ] && rc=$(head -c 8 <&7) || rc=
  case "$rc" in '' | *[!0-9$'\n']*) echo "KORTIX-EXEC-LOST bad status file"; exit 98 ;; esac
  rc=${rc%%$'\n'*}
  { exec 7<> "$d.out" 8<> "$d.err"; } 2>/dev/null || { echo "KORTIX-EXEC-LOST capture files missing"; exit 98; }
fi
exec 9>&-

to=0
[ -e "$d.timedout" ] && to=1
# A capture that is not a regular file was not written by this script.
if ! [ -f /dev/fd/7 ] || ! [ -f /dev/fd/8 ]; then echo "KORTIX-EXEC-LOST capture files replaced"; exit 98; fi
os=0 es=0
# `test -s` is a builtin (an fstat of the open descriptor): stat runs only when there is output to measure.
if [ -s /dev/fd/7 ] || [ -s /dev/fd/8 ]; then
  # The builtin's /dev/fd/N is an fstat of the descriptor, as `stat -L` is.
  if [ "$loaded" = 1 ] && stat -A st_out /dev/fd/7 2>/dev/null && stat -A st_err /dev/fd/8 2>/dev/null; then
    os=${st_out[size]} es=${st_err[size]}
  else
    sizes=$(stat -L -c %s /dev/fd/7 /dev/fd/8 2>/dev/null) || sizes=$'0\n0'
    os=${sizes%%$'\n'*}
    es=${sizes##*$'\n'}
  fi
fi
# Bytes are characters from here on (for `read -N`); nothing runs after this
# but `head`, which the locale does not change.
LC_ALL=C
# Prints exactly N bytes of the capture at descriptor FD. A whole capture of
# at most 16 KiB that nothing writes any more (the readers ended) goes through
# `read` (no exec): read to its end, it must come back N characters long.
# `read` drops NUL bytes, so a capture holding one comes back shorter, and so
# does one that shrank; both, and all the rest, go through `head`, reading the
# file from its start (/dev/fd/FD opens it anew).
print_capture() {
  local fd=$1 n=$2 size=$3 chunk
  if [ "$readers" = 0 ] && ((n == size && n <= 16384)) && ! read -r -N "$((n + 1))" -u "$fd" chunk && ((${#chunk} == n)); then
    printf '%s' "$chunk"
  else
    head -c "$n" < "/dev/fd/$fd"
  fi
}
printf 'KORTIX-EXEC %s %s %s %s\n' "$rc" "$to" "$os" "$es"
# Exactly the bytes the header announces, never more than LIMIT per stream
# (the file may still grow: a process can write through /proc/<pid>/fd).
[ "$os" -gt 0 ] && print_capture 7 "$((os < lim ? os : lim))" "$os"
[ "$es" -gt 0 ] && print_capture 8 "$((es < lim ? es : lim))" "$es"
exit 0
