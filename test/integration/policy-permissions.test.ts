/**
 * Gates that cannot be skipped: which policy a session runs under is the
 * tenant's decision (403 otherwise), set with `npm run tenant -- policy`; and
 * the shell policy decides on a real parse inside the workflow (the parser
 * loads in the workflow bundle), so an evasion of the old regex waits on a gate.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { setTenantPolicySettings, tenantPolicySettings } from '../../db/tenant-policy-settings.js';
import { DEFAULT_POLICY_SETTINGS } from '../../policies/permissions.js';
import { json, readAllEvents, startSession, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(inject('services'));
});
afterAll(async () => {
  await stack?.close();
});

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}

const post = (who: 'alice' | 'bob', body: Record<string, unknown>) =>
  stack.api('POST', '/v1/sessions', who, { message: 'hello there', metadata: { scenario: 'default' }, ...body });

describe('policy permissions per tenant', () => {
  it('refuses permissive to everyone while the tenant names no role for it (the default settings)', async () => {
    expect(await tenantPolicySettings(stack.db, stack.tenantId)).toEqual(DEFAULT_POLICY_SETTINGS);
    for (const who of ['alice', 'bob'] as const) {
      const res = await post(who, { policy: 'permissive' });
      expect(res.status).toBe(403);
      expect(await json<ErrorJson>(res)).toMatchObject({
        error: { code: 'policy_needs_role', fields: [{ path: 'body.policy', message: expect.stringContaining('no one') }] },
      });
    }
  });

  it('keeps standard as the default, as the README walk-through expects', async () => {
    const res = await post('alice', {});
    expect(res.status).toBe(201);
    expect((await json<{ policy: { name: string } }>(res)).policy.name).toBe('standard');
  });

  it('lets the elevated role use permissive once the tenant says so with `npm run tenant -- policy`, and no one else', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(
      'npx',
      ['tsx', 'scripts/tenant.ts', 'policy', stack.tenantId, '--elevated-roles', 'admin', '--elevated-policies', 'permissive'],
      { cwd: REPO_ROOT, env: { ...process.env, ...stack.env, DATABASE_URL: stack.config.DATABASE_URL ?? '' } },
    );
    expect(JSON.parse(stdout)).toEqual({ allowed: ['*'], elevated: { roles: ['admin'], policies: ['permissive'] } });

    const bob = await post('bob', { policy: 'permissive' });
    expect(bob.status).toBe(201);
    expect((await json<{ policy: { name: string } }>(bob)).policy.name).toBe('permissive');
    const alice = await post('alice', { policy: 'permissive' });
    expect(alice.status).toBe(403);
    expect(await json<ErrorJson>(alice)).toMatchObject({ error: { code: 'policy_needs_role', fields: [{ path: 'body.policy' }] } });
  });

  it("applies the tenant's default when the request names none, and refuses a policy outside the allowed list", async () => {
    await setTenantPolicySettings(stack.db, stack.tenantId, { default: 'strict', allowed: ['strict'], elevated: { roles: [], policies: [] } });
    try {
      const res = await post('alice', {});
      expect(res.status).toBe(201);
      expect((await json<{ policy: { name: string } }>(res)).policy.name).toBe('strict');
      const standard = await post('alice', { policy: 'standard' });
      expect(standard.status).toBe(403);
      expect(await json<ErrorJson>(standard)).toMatchObject({ error: { code: 'policy_not_allowed', fields: [{ path: 'body.policy' }] } });
    } finally {
      await setTenantPolicySettings(stack.db, stack.tenantId, null);
    }
  });
});

describe('the shell policy inside the workflow', () => {
  const decision = async (id: string) =>
    waitFor(async () => (await readAllEvents(stack, id)).find((e) => e.type === 'tool.decision')?.data, 20_000, `the decision in ${id}`);

  it('allows a plain command (the parser loads and runs in the workflow bundle)', async () => {
    const { id } = await startSession(stack, { message: 'echo plain && ls /workspace', metadata: { scenario: 'shell-from-message' } });
    expect(await decision(id)).toMatchObject({ action: 'allow', ruleId: 'shell' });
    expect((await waitForStatus(stack, id)).status).toBe('completed');
  });

  it.each([
    ['r""m -rf /workspace/x', 'shell-destructive-or-network'],
    ['echo cm0gLXJmIC4= | base64 -d | bash', 'shell-dynamic'],
    [`python3 -c "__import__('shutil').rmtree('.')"`, 'shell-dynamic'],
  ])('holds %j on a gate (rule %s)', async (command, ruleId) => {
    const { id } = await startSession(stack, { message: command, metadata: { scenario: 'shell-from-message' } });
    const gate = await waitForGate(stack, id);
    expect(gate).toMatchObject({ ruleId, risk: 'high', required: 2, arguments: { command } });
    await stack.api('POST', `/v1/sessions/${id}/cancel`, 'alice', {});
  });
});
