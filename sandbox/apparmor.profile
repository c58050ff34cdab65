# AppArmor profile of a sandbox container (docker-bench-security 5.2), loaded
# by sandbox/apparmor.ts with apparmor_parser where the host runs AppArmor.
# Docker's own docker-default profile, tightened: no mount at all, no raw or
# packet sockets, no ptrace beyond reading /proc of its own processes, and the
# kernel's knobs in /proc and /sys read-only or hidden.
#include <tunables/global>

profile kortix-sandbox flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network inet dgram,
  network inet6 dgram,
  network unix,
  deny network raw,
  deny network packet,

  file,
  deny mount,
  deny umount,
  deny pivot_root,

  # Signals between the sandbox's own processes (exec.sh kills a timed-out
  # tree), and from the host's engine; to nobody else.
  signal (send, receive) peer=kortix-sandbox,
  signal (receive) peer=unconfined,
  # /proc/<pid>/{stat,fd} of its own processes; never tracing.
  ptrace (read, readby) peer=kortix-sandbox,
  deny ptrace (trace, tracedby),

  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,
  deny @{PROC}/sys/** w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,
  deny @{PROC}/kmsg rwklx,
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}
