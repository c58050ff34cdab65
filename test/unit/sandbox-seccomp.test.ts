/**
 * sandbox/seccomp.json, the profile every sandbox runs under: an allowlist
 * (everything else fails with EPERM), no way to new namespaces, and none of
 * the syscalls a sandbox has no business with. The escape suite shows the
 * kernel applying it (test/integration/escape.test.ts).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';

interface Rule {
  names: string[];
  action: string;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
  errnoRet?: number;
}
const profile = JSON.parse(readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8')) as {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap: { architecture: string; subArchitectures: string[] }[];
  syscalls: Rule[];
};
const allowed = (name: string) => profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(name));

describe('the seccomp profile', () => {
  it('denies by default with EPERM, for 64-bit code only (no x32 or 32-bit entry points)', () => {
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.defaultErrnoRet).toBe(1);
    for (const arch of profile.archMap) expect(arch.subArchitectures).toEqual([]);
  });

  it('allows none of the escape and attack-surface syscalls', () => {
    const never = [
      'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd',
      'mount', 'umount', 'umount2', 'move_mount', 'fsopen', 'fsmount', 'open_tree', 'pivot_root', 'chroot',
      'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd',
      'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'kexec_load', 'kexec_file_load',
      'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'swapoff', 'acct', 'syslog',
      'settimeofday', 'clock_settime', 'adjtimex', 'clock_adjtime', 'open_by_handle_at', 'name_to_handle_at',
      'socketcall', 'ipc', 'vmsplice', 'quotactl', 'lookup_dcookie', 'iopl', 'ioperm',
    ];
    expect(never.filter((name) => allowed(name).length > 0)).toEqual([]);
  });

  it('allows clone only without CLONE_NEW* flags, and makes clone3 fall back to it', () => {
    expect(allowed('clone')).toEqual([
      expect.objectContaining({ args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }),
    ]);
    expect(profile.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('allows sockets of the unix and IP families and netlink only', () => {
    const families = allowed('socket').map((r) => {
      expect(r.args).toHaveLength(1);
      expect(r.args?.[0]).toMatchObject({ index: 0, op: 'SCMP_CMP_EQ' });
      return r.args?.[0]?.value;
    });
    expect(families.sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual([1, 2, 10, 16]);
  });

  it('allows what bash, coreutils, python3 and git need', () => {
    for (const name of ['execve', 'fork', 'vfork', 'wait4', 'openat', 'read', 'write', 'mmap', 'mprotect', 'futex', 'pipe2', 'mknodat', 'connect', 'getrandom', 'rt_sigaction', 'prlimit64', 'statx']) {
      expect([name, allowed(name).length]).toEqual([name, 1]);
    }
  });
});
