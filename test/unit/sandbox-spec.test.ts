/** The container a sandbox gets: no log, an init that ignores signals, AppArmor when given, ids under userns-remap. */
import { describe, expect, it } from 'vitest';
import { remappedRoot, sandboxContainerSpec, SANDBOX_INIT, specHash, workspaceVolumeSpec, type SandboxSpecInput } from '../../sandbox/container-spec.js';

const input: SandboxSpecInput = {
  image: 'kortix/sandbox:dev',
  name: 'kortix-x-idle-1',
  volumeName: 'kortix-x-idle-1-ws',
  labels: {},
  limits: { memoryMb: 128, cpus: 1, pidsLimit: 64, workspaceMb: 16, tmpMb: 8 },
  healthCheckIntervalMs: 300_000,
};

describe('the sandbox container', () => {
  it('logs nowhere, and its init sends its own output to /dev/null and ignores what the sandbox user can send', () => {
    const spec = sandboxContainerSpec(input);
    expect(spec.HostConfig?.LogConfig).toEqual({ Type: 'none', Config: {} });
    expect(SANDBOX_INIT).toMatch(/^exec <\/dev\/null >\/dev\/null 2>&1; trap "" TERM INT HUP QUIT USR2 PIPE ALRM;/);
    // USR1 is the host's reap (sandbox/deadline-reap.ts): builtins only, no process slot needed.
    expect(SANDBOX_INIT).toContain(`trap 'for ((i = 0; i < 100; i++)); do kill -KILL -1 || break; done' USR1;`);
    expect(SANDBOX_INIT).not.toMatch(/exit/);
  });

  it('names the AppArmor profile only when one is loaded', () => {
    expect(sandboxContainerSpec(input).HostConfig?.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(sandboxContainerSpec({ ...input, appArmorProfile: 'kortix-sandbox' }).HostConfig?.SecurityOpt).toContain('apparmor=kortix-sandbox');
  });

  it("has the engine run the image's own health check at the host's interval, or not at all with 0", () => {
    // No Test: the image's (sandbox/Dockerfile's HEALTHCHECK) with its timeout and retries; the interval in ns.
    expect(sandboxContainerSpec(input).Healthcheck).toEqual({ Interval: 300e9 });
    expect(sandboxContainerSpec({ ...input, healthCheckIntervalMs: 0 }).Healthcheck).toEqual({ Test: ['NONE'] });
    // Idle containers made with another interval are of another spec, and so are replaced.
    const hash = (healthCheckIntervalMs: number) => specHash({ imageId: 'sha256:1', limits: input.limits, healthCheckIntervalMs });
    expect(new Set([hash(30_000), hash(300_000), hash(0)]).size).toBe(3);
  });

  it('gives the workspace to uid 1000 of the container, which is the remapped root + 1000 on the host under userns-remap', () => {
    expect(workspaceVolumeSpec(input).DriverOpts?.o).toContain('uid=1000,gid=1000,');
    expect(workspaceVolumeSpec({ ...input, remappedRoot: { uid: 100000, gid: 200000 } }).DriverOpts?.o).toContain('uid=101000,gid=201000,');
  });
});

describe('remappedRoot', () => {
  it('reads the remapped ids from the engine root of an engine that remaps, and nothing otherwise', () => {
    expect(remappedRoot({ SecurityOptions: ['name=seccomp,profile=default', 'name=userns'], DockerRootDir: '/var/lib/docker/100000.100000' })).toEqual({
      uid: 100000,
      gid: 100000,
    });
    expect(remappedRoot({ SecurityOptions: ['name=seccomp,profile=default'], DockerRootDir: '/var/lib/docker' })).toBeUndefined();
    expect(() => remappedRoot({ SecurityOptions: ['name=userns'], DockerRootDir: '/var/lib/docker' })).toThrow(/does not say to which ids/);
  });
});
