/**
 * Per-host network approval through the real session path (one stack): a
 * policy with a host in `network.approve` only still gets an egress sandbox;
 * the proxy refuses the host, telling the agent to call request_network; the
 * call opens a gate showing host and reason; bob and carol approve through
 * the API; the host answers; a host the policy does not list is denied; the
 * grant reaches no other session's sandbox, outlives a worker restart and
 * dies with the sandbox.
 * The "internet" is a server on this machine, named by address (an address
 * entry may lead to 127.0.0.1, a name may not).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { egressGrantsFor } from '../../db/egress-grants.js';
import { sandboxHostFromConfig } from '../../sandbox/from-config.js';
import { stateQuery } from '../../workflows/definitions.js';
import { startSession, toolResults, vote, waitForGate, waitForStatus } from '../support/sessions.js';
import { docker, startStack, waitFor, type Stack } from '../support/stack.js';

const services = inject('services');
const proxyPort = 33_000 + Math.floor(Math.random() * 2_000);

let site: Server;
let stack: Stack;
let target: string;

/** The fetch the scenario runs (mock-llm/scenarios/network-approval.yaml), for the other session. */
const fetchCommand = (url: string) => String.raw`python3 - <<'PY'
import urllib.request, urllib.error
try:
    with urllib.request.urlopen("${url}", timeout=10) as r: print(r.status, r.read().decode().strip())
except urllib.error.HTTPError as e: print(e.code, e.read().decode().strip())
PY`;

beforeAll(async () => {
  site = createServer((_req, res) => res.end('build status: green'));
  await new Promise<void>((r) => site.listen(0, '0.0.0.0', () => r()));
  target = `127.0.0.1:${(site.address() as { port: number }).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'kortix-netapprove-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(
    join(dir, 'templates', 'net-approve.yaml'),
    [
      'name: net-approve',
      'tools: [shell]',
      'network:',
      '  allow: []',
      `  approve: ["${target}"]`,
      '  approval: { approvers: 2, roles: [admin, security], timeout: 5m }',
      'rules:',
      '  - { id: shell, tool: shell, action: allow }',
      'default: deny',
      '',
    ].join('\n'),
  );
  stack = await startStack(services, { policiesDir: dir, env: { SANDBOX_EGRESS_PROXY_PORT: String(proxyPort), SANDBOX_POOL_MIN_IDLE: '0' } });
});
afterAll(async () => {
  await stack?.close();
  await new Promise((r) => site?.close(r));
});

/** The session's events so far (its SSE stream stays open while it idles). */
const eventsOf = (sessionId: string) =>
  stack.db.selectFrom('session_events').select(['type', 'data']).where('session_id', '=', sessionId).orderBy('seq').execute();
const grantsOf = (sessionId: string) => stack.db.selectFrom('egress_grants').selectAll().where('session_id', '=', sessionId).execute();

describe('a host the policy lets people approve', () => {
  it('is refused until approved, then reachable from that sandbox only, across a worker restart, until the sandbox goes', async () => {
    // Idle after its answer: the session keeps its sandbox (and grant) while the other one runs.
    const s = await startSession(stack, { message: target, policy: 'net-approve', metadata: { scenario: 'network-approval' }, idleTimeoutSeconds: 600 });

    const gate = await waitForGate(stack, s.id, 120_000);
    expect(gate).toMatchObject({
      tool: 'request_network',
      ruleId: 'network.approve',
      arguments: { host: '127.0.0.1', port: Number(target.split(':')[1]), reason: "read the build status from the team's API" },
      roles: ['admin', 'security'],
      required: 2,
    });
    const [refused] = await toolResults(stack, s.id);
    expect(refused?.stdout).toBe(
      `403 kortix egress proxy: ${target} needs approval: call the request_network tool with host 127.0.0.1 and port ${target.split(':')[1]} and the reason, then retry\n`,
    );
    // The approvers' inbox shows the host and the reason.
    const entry = await waitFor(async () => {
      const inbox = (await (await stack.api('GET', `/v1/approvals?session=${s.id}`, 'bob')).json()) as { data: { gateId: string; display: { text: string } }[] };
      return inbox.data.find((e) => e.gateId === gate.id);
    }, 30_000, 'the gate in the inbox');
    expect(entry.display.text).toMatch(/"host":"127\.0\.0\.1".*"reason":"read the build status/);

    // Nothing passes while the gate is open, whatever the sandbox runs.
    const containerId = (await stack.temporal.workflow.getHandle(s.id).query(stateQuery)).sandbox?.containerId as string;
    const early = await stack.host.exec(containerId, { key: `early-${randomUUID()}`, command: fetchCommand(`http://${target}/`), timeoutSeconds: 30 });
    expect(early.stdout).toMatch(/^403 .* needs approval/);

    expect((await vote(stack, s.id, gate.id, 'bob')).status).toBe(200);
    expect((await vote(stack, s.id, gate.id, 'carol')).status).toBe(200);

    const results = await waitFor(async () => {
      const r = await toolResults(stack, s.id);
      return r.length >= 4 ? r : undefined;
    }, 90_000, 'four tool results').catch(async (err: unknown) => {
      // What the session did instead, in the failure.
      const events = (await eventsOf(s.id)).map((e) => `${e.type} ${JSON.stringify(e.data).slice(0, 300)}`);
      throw new Error(`${(err as Error).message}\n${events.join('\n')}`);
    });
    expect(results[1]).toMatchObject({ ok: true, granted: true, host: '127.0.0.1', gate: gate.id, granted_by: 'bob, carol', notice: expect.stringMatching(/is now reachable/) });
    expect(results[2]?.stdout).toBe('200 build status: green\n');
    expect(results[3]).toMatchObject({ ok: false, denied: true, error: expect.stringMatching(/evil\.example \(ports 80 and 443\) is neither in network\.allow nor in network\.approve/) });
    expect(await grantsOf(s.id)).toEqual([
      expect.objectContaining({ container_id: containerId, host: '127.0.0.1', port: Number(target.split(':')[1]), granted_by: 'bob, carol', gate: gate.id, tenant_id: stack.tenantId }),
    ]);
    // The approve-only policy put the sandbox on the egress network (its allowlist is empty).
    const claimed = (await eventsOf(s.id)).find((e) => e.type === 'sandbox.claimed');
    expect(claimed?.data).toMatchObject({ source: 'cold', network: [] });

    // Another session of the same policy, while the first holds its grant: refused, with how to ask.
    const other = await startSession(stack, { message: fetchCommand(`http://${target}/`), policy: 'net-approve', metadata: { scenario: 'shell-from-message' } });
    const otherDone = await waitForStatus(stack, other.id, undefined, 120_000);
    expect(otherDone.finalAnswer).toMatch(/403 kortix egress proxy: 127\.0\.0\.1:\d+ needs approval/);

    // A restarted worker's proxy (a new host object: nothing in memory) reads the grant back.
    await stack.stopWorkers();
    const restarted = sandboxHostFromConfig(stack.config, { docker });
    restarted.useEgressGrants({ forContainers: (ids) => egressGrantsFor(stack.db, ids) });
    await restarted.start();
    try {
      const again = await restarted.exec(containerId, { key: `restarted-${randomUUID()}`, command: fetchCommand(`http://${target}/`), timeoutSeconds: 30 });
      expect(again.stdout).toBe('200 build status: green\n');
    } finally {
      await restarted.stop();
    }
    await stack.startWorkers();

    // Released with the sandbox.
    expect((await stack.api('POST', `/v1/sessions/${s.id}/cancel`, 'alice', {})).status).toBeLessThan(300);
    await waitForStatus(stack, s.id, undefined, 60_000);
    expect(await grantsOf(s.id)).toEqual([]);
  });
});
