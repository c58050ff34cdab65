/**
 * Policies managed through the API, on the real stack: a tenant policy
 * saved as versions (content-addressed, validated with line numbers), the
 * diff of two versions, the playground running the workflow's evaluatePolicy,
 * and a session that pins a saved version and decides by it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setTenantPolicySettings } from '../../db/tenant-policy-settings.js';
import { json, readAllEvents, startSession, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(inject('services'));
  // Writing a policy is for the roles the tenant trusts with looser ones: bob (admin) here.
  await setTenantPolicySettings(stack.db, stack.tenantId, { allowed: ['*'], elevated: { roles: ['admin'], policies: ['permissive'] } });
});
afterAll(async () => {
  await stack?.close();
});

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string; line?: number }[] };
}
interface VersionJson {
  name: string;
  source: string;
  version: number | null;
  sha256: string;
  yaml: string;
  created?: boolean;
  author: string | null;
  changeNote: string | null;
}

// Line 9 is the action the second version changes.
const V1 = `# The team's policy: standard, but echo waits on one approver.
name: team
extends: standard
rules:
  - id: echo-gate
    tool: shell
    match:
      command: '^echo '
    action: approve
    risk: medium
    approval:
      approvers: 1
`;
const V2 = V1.replace('    action: approve', '    action: deny').replace('risk: medium\n    approval:\n      approvers: 1\n', 'risk: medium\n');

const save = (yaml: string, who: 'alice' | 'bob' | 'mallory' = 'bob', changeNote?: string) =>
  stack.api('POST', '/v1/policies', who, { yaml, ...(changeNote ? { changeNote } : {}) });

const versions: Record<number, VersionJson> = {};

describe('saving tenant policies', () => {
  it('saves version 1 extending standard, and refuses a principal without an elevated role', async () => {
    const alice = await save(V1, 'alice');
    expect(alice.status).toBe(403);
    expect((await json<ErrorJson>(alice)).error.code).toBe('policy_write_needs_role');

    const res = await save(V1, 'bob', 'echo needs a look');
    expect(res.status).toBe(201);
    const v1 = await json<VersionJson>(res);
    expect(v1).toMatchObject({ name: 'team', source: 'tenant', version: 1, created: true, author: 'bob', changeNote: 'echo needs a look', yaml: V1 });
    expect(v1.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(res.headers.get('location')).toBe('/v1/policies/team/versions/1');
    versions[1] = v1;
  });

  it('makes version 2 of a changed rule; identical content (even re-commented) returns the existing version', async () => {
    const res = await save(V2, 'bob', 'echo is denied');
    expect(res.status).toBe(201);
    versions[2] = await json<VersionJson>(res);
    expect(versions[2]).toMatchObject({ version: 2, created: true });
    expect(versions[2]?.sha256).not.toBe(versions[1]?.sha256);

    const again = await save(`${V2}# same rules, another comment\n`);
    expect(again.status).toBe(200);
    expect(await json<VersionJson>(again)).toMatchObject({ version: 2, created: false, sha256: versions[2]?.sha256, yaml: V2 });

    const list = await json<{ data: VersionJson[]; nextCursor: string | null }>(await stack.api('GET', '/v1/policies/team/versions?limit=1'));
    expect(list.data.map((v) => v.version)).toEqual([2]);
    const rest = await json<{ data: VersionJson[]; nextCursor: string | null }>(await stack.api('GET', `/v1/policies/team/versions?limit=1&cursor=${list.nextCursor}`));
    expect(rest).toEqual({ data: [expect.objectContaining({ version: 1 })], nextCursor: null });
  });

  it('lists templates and the tenant policy by name, paged', async () => {
    const first = await json<{ data: VersionJson[]; nextCursor: string }>(await stack.api('GET', '/v1/policies?limit=2'));
    expect(first.data.map((p) => p.name)).toEqual(['permissive', 'standard']);
    const second = await json<{ data: VersionJson[]; nextCursor: string | null }>(await stack.api('GET', `/v1/policies?limit=2&cursor=${first.nextCursor}`));
    expect(second.data.map((p) => [p.name, p.source, p.version])).toEqual([
      ['strict', 'template', null],
      ['team', 'tenant', 2],
    ]);
    expect(second.nextCursor).toBeNull();
  });

  it('refuses invalid YAML with the line and the path of the fault', async () => {
    const bad = await save(V1.replace('    action: approve', '    action: maybe'));
    expect(bad.status).toBe(400);
    const body = await json<ErrorJson>(bad);
    expect(body.error.code).toBe('invalid_policy');
    expect(body.error.fields).toEqual([expect.objectContaining({ path: 'body.yaml.rules.0.action', line: 9 })]);

    const syntax = await save('name: team\nrules:\n  - id: x\n   tool: shell\n');
    expect(syntax.status).toBe(400);
    expect((await json<ErrorJson>(syntax)).error.fields?.[0]).toMatchObject({ path: 'body.yaml', line: 4 });

    const template = await save('name: standard\n');
    expect(template.status).toBe(400);
    expect((await json<ErrorJson>(template)).error.fields?.[0]).toMatchObject({ path: 'body.yaml.name' });
  });
});

describe('reading and diffing versions', () => {
  it('diffs version 1 and 2: the rule by id, the YAML line, and the risk', async () => {
    const res = await stack.api('GET', '/v1/policies/team/diff?from=1&to=2');
    expect(res.status).toBe(200);
    const diff = await json<{ rules: { id: string; change: string; fields: string[] }[]; risk: { classification: string }; yamlDiff: string }>(res);
    expect(diff.rules).toEqual([expect.objectContaining({ id: 'echo-gate', change: 'changed', fields: ['action', 'approval'] })]);
    expect(diff.risk.classification).toBe('tightening');
    expect(diff.yamlDiff).toContain('--- team@v1');
    expect(diff.yamlDiff).toContain('+++ team@v2');
    expect(diff.yamlDiff).toContain('\n-    action: approve\n');
    expect(diff.yamlDiff).toContain('\n+    action: deny\n');

    const back = await json<{ risk: { classification: string } }>(await stack.api('GET', `/v1/policies/team/diff?from=${versions[2]?.sha256.slice(0, 10)}&to=1`));
    expect(back.risk.classification).toBe('loosening');
  });

  it('reads a version by number, sha prefix or latest; an unknown version is a 404', async () => {
    for (const ref of ['1', versions[1]?.sha256.slice(0, 8)]) {
      expect(await json<VersionJson>(await stack.api('GET', `/v1/policies/team/versions/${ref}`))).toMatchObject({ version: 1, yaml: V1 });
    }
    expect(await json<VersionJson>(await stack.api('GET', '/v1/policies/team'))).toMatchObject({ version: 2 });
    for (const ref of ['9', 'deadbeef0']) {
      const res = await stack.api('GET', `/v1/policies/team/versions/${ref}`);
      expect(res.status).toBe(404);
      expect((await json<ErrorJson>(res)).error.code).toBe('version_not_found');
    }
    const badRef = await stack.api('GET', '/v1/policies/team/versions/v1');
    expect(badRef.status).toBe(400);
    expect((await json<ErrorJson>(badRef)).error.fields?.[0]?.path).toBe('params.ref');
  });

  it("keeps one tenant's policies from another: a 404 for mallory", async () => {
    for (const path of ['/v1/policies/team', '/v1/policies/team/versions/1', '/v1/policies/team/diff?from=1&to=2']) {
      const res = await stack.api('GET', path, 'mallory');
      expect(res.status).toBe(404);
      expect((await json<ErrorJson>(res)).error.code).toBe('policy_not_found');
    }
    const evaluate = await stack.api('POST', '/v1/policies/evaluate', 'mallory', { policyVersion: versions[1]?.sha256, tool: 'shell', arguments: { command: 'echo hi' } });
    expect(evaluate.status).toBe(404);
  });
});

describe('the playground', () => {
  const evaluate = async (body: Record<string, unknown>) => {
    const res = await stack.api('POST', '/v1/policies/evaluate', 'alice', body);
    expect(res.status).toBe(200);
    return json<{ policy: { name: string; version: number | null }; decision: { action: string; ruleId: string }; rule: { id?: string } | null; gate: Record<string, unknown> | null }>(res);
  };

  it('asks for approval of rm -rf x under standard, naming the rule and the gate', async () => {
    const result = await evaluate({ policy: 'standard', tool: 'shell', arguments: { command: 'rm -rf x' } });
    expect(result.decision).toMatchObject({ action: 'approve', ruleId: 'shell-destructive-or-network' });
    expect(result.rule).toMatchObject({ id: 'shell-destructive-or-network' });
    expect(result.gate).toEqual({ approvers: 2, roles: [], excludedApprovers: [], timeoutSeconds: 1800, onTimeout: 'deny', slackChannel: null, risk: 'high' });
  });

  it('decides by the tenant policy, at its newest version or the one named', async () => {
    const call = { tool: 'shell', arguments: { command: 'echo hi' } };
    expect((await evaluate({ policy: 'team', ...call })).decision).toMatchObject({ action: 'deny', ruleId: 'echo-gate' });
    const v1 = await evaluate({ policyVersion: versions[1]?.sha256.slice(0, 12), ...call });
    expect(v1.policy).toMatchObject({ name: 'team', version: 1 });
    expect(v1.gate).toMatchObject({ approvers: 1, risk: 'medium' });
    expect((await evaluate({ policy: 'team@1', ...call })).decision.action).toBe('approve');
    // Rules the tenant did not write come from standard.
    expect((await evaluate({ policy: 'team', tool: 'shell', arguments: { command: 'ls' } })).decision).toMatchObject({ action: 'allow', ruleId: 'shell' });

    const neither = await stack.api('POST', '/v1/policies/evaluate', 'alice', call);
    expect(neither.status).toBe(400);
    expect((await json<ErrorJson>(neither)).error.fields?.[0]?.path).toBe('body.policy');
  });
});

describe('a session under a saved policy', () => {
  const decision = async (id: string) =>
    waitFor(async () => (await readAllEvents(stack, id)).find((e) => e.type === 'tool.decision')?.data, 30_000, `the decision in ${id}`);

  it('pins the newest version (its hash) and decides by it', async () => {
    const session = await startSession(stack, { message: 'echo hi', policy: 'team', metadata: { scenario: 'shell-from-message' } });
    expect(session.policy).toEqual({ name: 'team', hash: versions[2]?.sha256 });
    expect(await decision(session.id)).toMatchObject({ action: 'deny', ruleId: 'echo-gate' });
    await waitForStatus(stack, session.id);
  });

  it('pins an older version named by its sha prefix', async () => {
    const session = await startSession(stack, { message: 'echo hi', policy: `team@${versions[1]?.sha256.slice(0, 7)}`, metadata: { scenario: 'shell-from-message' } });
    expect(session.policy).toEqual({ name: 'team', hash: versions[1]?.sha256 });
    // Version 1 holds echo on a one-approver gate (the SSE stream stays open while it waits: read the gate instead).
    expect(await waitForGate(stack, session.id)).toMatchObject({ ruleId: 'echo-gate', risk: 'medium', required: 1, arguments: { command: 'echo hi' } });
    await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', {});
  });

  it('applies the tenant permissions to saved policies, and refuses an unknown version', async () => {
    await setTenantPolicySettings(stack.db, stack.tenantId, { allowed: ['standard'], elevated: { roles: ['admin'], policies: ['permissive'] } });
    try {
      const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'hi', policy: 'team' });
      expect(res.status).toBe(403);
      expect(await json<ErrorJson>(res)).toMatchObject({ error: { code: 'policy_not_allowed', fields: [{ path: 'body.policy' }] } });
    } finally {
      await setTenantPolicySettings(stack.db, stack.tenantId, { allowed: ['*'], elevated: { roles: ['admin'], policies: ['permissive'] } });
    }
    const unknown = await stack.api('POST', '/v1/sessions', 'alice', { message: 'hi', policy: 'team@7' });
    expect(unknown.status).toBe(400);
    expect((await json<ErrorJson>(unknown)).error).toMatchObject({ code: 'unknown_policy', fields: [{ path: 'body.policy' }] });
  });
});
