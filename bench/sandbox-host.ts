/**
 * A sandbox host on the real Docker engine for the benches (sandbox, sandbox-cpu, browser), as the worker builds one
 * from the config (image, limits, seccomp profile, output cap), on a pool of its own.
 */
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { loadConfig } from '../config/index.js';
import { DockerSandboxHost, type DockerSandboxHostOptions } from '../sandbox/docker-host.js';

export const benchDocker = new Docker({ socketPath: '/var/run/docker.sock' });

/** `limits` replaces the config's where given; `options` adds to what the host gets (browser, egress, metrics). */
export function benchSandboxHost(
  pool: string,
  warmPool: DockerSandboxHostOptions['warmPool'],
  limits: Partial<DockerSandboxHostOptions['limits']> = {},
  options: Partial<DockerSandboxHostOptions> = {},
): DockerSandboxHost {
  const config = loadConfig(process.env);
  return new DockerSandboxHost({
    docker: benchDocker,
    hostId: `bench-${pool}`,
    pool,
    image: config.SANDBOX_IMAGE,
    limits: { memoryMb: config.SANDBOX_MEMORY_MB, cpus: config.SANDBOX_CPUS, pidsLimit: config.SANDBOX_PIDS_LIMIT, workspaceMb: config.SANDBOX_WORKSPACE_MB, tmpMb: config.SANDBOX_TMP_MB, ...limits },
    seccompProfile: readFileSync(config.SANDBOX_SECCOMP_PROFILE, 'utf8'),
    outputLimitBytes: config.SANDBOX_OUTPUT_LIMIT_BYTES,
    warmPool,
    ...options,
  });
}

/** The browser options of a host whose pool starts each warm sandbox's browser (SANDBOX_BROWSER=prewarm), from the config. */
export function benchPrewarmedBrowser(): NonNullable<DockerSandboxHostOptions['browser']> {
  const config = loadConfig(process.env);
  return { prewarm: true, heapMb: config.SANDBOX_BROWSER_HEAP_MB, downloadMaxMb: config.SANDBOX_BROWSER_DOWNLOAD_MAX_MB };
}
