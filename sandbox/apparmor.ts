/**
 * The sandbox's AppArmor profile (sandbox/apparmor.profile), applied where
 * the host supports it: the kernel runs AppArmor, the Docker engine says so,
 * and the profile is loaded (by apparmor_parser here, which needs root, or
 * already by the host's own setup). Elsewhere containers run without one
 * (Docker applies none when the kernel has no AppArmor).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

export const APPARMOR_PROFILE_NAME = 'kortix-sandbox';
export const APPARMOR_PROFILE_PATH = fileURLToPath(new URL('./apparmor.profile', import.meta.url));
const ENABLED = '/sys/module/apparmor/parameters/enabled';
const LOADED = '/sys/kernel/security/apparmor/profiles';

/** Whether AppArmor can apply here, and if not, why (tests print the reason when they skip). */
export async function appArmorSupport(docker: Docker): Promise<{ ok: true } | { ok: false; reason: string }> {
  const enabled = await readFile(ENABLED, 'utf8').catch(() => '');
  if (enabled.trim() !== 'Y') return { ok: false, reason: `the kernel runs no AppArmor (${ENABLED} is ${enabled.trim() || 'missing'})` };
  const info = (await docker.info()) as { SecurityOptions?: string[] };
  if (!(info.SecurityOptions ?? []).some((o) => o === 'name=apparmor' || o.startsWith('name=apparmor,'))) {
    return { ok: false, reason: 'the Docker engine does not report AppArmor among its security options' };
  }
  return { ok: true };
}

async function loaded(): Promise<boolean> {
  const profiles = await readFile(LOADED, 'utf8').catch(() => '');
  return profiles.split('\n').some((line) => line.startsWith(`${APPARMOR_PROFILE_NAME} (`));
}

/**
 * The profile name to give containers, loading the profile when it is not
 * loaded yet; undefined (with the reason) where AppArmor does not apply or the
 * profile cannot be loaded. Never throws: a host without AppArmor still runs sandboxes.
 */
export async function ensureAppArmorProfile(docker: Docker): Promise<{ profile?: string; reason?: string }> {
  try {
    const support = await appArmorSupport(docker);
    if (!support.ok) return { reason: support.reason };
    if (!(await loaded())) {
      // -r: replace an older version of the profile; -W: write the cache when there is one.
      await promisify(execFile)('apparmor_parser', ['-r', '-W', APPARMOR_PROFILE_PATH], { timeout: 30_000 });
    }
    if (!(await loaded())) return { reason: `apparmor_parser ran, but ${APPARMOR_PROFILE_NAME} is not among the loaded profiles` };
    return { profile: APPARMOR_PROFILE_NAME };
  } catch (err) {
    return { reason: `cannot load the AppArmor profile: ${(err as Error).message.split('\n')[0]}` };
  }
}
