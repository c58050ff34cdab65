/**
 * The router in a real session (API → Temporal → llmStep → router → mock LLM,
 * Postgres ledger): every model call of a session is a row of llm_calls that
 * adds up to the session's usage, and a spent tenant budget shows in the
 * session — as a downgrade to the free model, or as a refusal that ends it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ledgerRows } from '../../db/llm-ledger.js';
import { readAllEvents, startSession, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * `mock_priced` is the mock LLM at $10,000 per million output tokens, with
 * max_tokens 150: a call reserves $1.50. The default scenario echoes the
 * message, so a 390-character message costs ceil(400 / 4) = 100 tokens = $1.00.
 * With $2 a day the first call fits ($1.50 ≤ $2) and the second does not
 * ($1.00 spent + $1.50 > $2).
 */
function policyFile(name: string, onExceeded: string): string {
  const file = join(inject('services').tmpDir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'default: mock',
      'models:',
      '  mock_priced: { provider: mock, model: mock, outputPerMTok: 10000, maxOutputTokens: 150, contextWindow: 128000 }',
      'budgets:',
      `  default: { dailyUsd: 2, onExceeded: ${onExceeded} }`,
      '',
    ].join('\n'),
  );
  return file;
}

const MESSAGE = `Please echo this: ${'lorem '.repeat(62)}`.slice(0, 390);
const body = { message: MESSAGE, model: 'mock_priced', metadata: { scenario: 'default' } };

let downgrading: Stack;
let refusing: Stack;
beforeAll(async () => {
  downgrading = await startStack(inject('services'), { env: { MODEL_POLICY_FILE: policyFile('downgrade-policy', '{ action: downgrade, model: mock }') } });
  refusing = await startStack(inject('services'), { env: { MODEL_POLICY_FILE: policyFile('refuse-policy', '{ action: refuse }') } });
});
afterAll(async () => {
  await downgrading?.close();
  await refusing?.close();
});

describe('a session’s model calls in the ledger', () => {
  it('records each call of the session, adding up to its usage; a spent budget downgrades the next session', async () => {
    const first = await startSession(downgrading, body);
    const done = await waitForStatus(downgrading, first.id);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe(`You said: ${MESSAGE}`);
    const rows = await ledgerRows(downgrading.db, { tenantId: downgrading.tenantId, sessionId: first.id });
    expect(rows).toHaveLength(done.usage.llmCalls);
    expect(rows[0]).toMatchObject({ model: 'mock_priced', provider: 'mock', outcome: 'ok', outputTokens: 100, costUsd: 1, downgradedFrom: null });
    expect(rows.reduce((s, r) => s + r.costUsd, 0)).toBe(done.usage.costUsd);
    expect(rows.reduce((s, r) => s + r.outputTokens, 0)).toBe(done.usage.outputTokens);

    const second = await startSession(downgrading, body);
    const downgraded = await waitForStatus(downgrading, second.id);
    expect(downgraded.status).toBe('completed');
    expect(downgraded.usage.costUsd).toBe(0);
    const [row] = await ledgerRows(downgrading.db, { tenantId: downgrading.tenantId, sessionId: second.id });
    expect(row).toMatchObject({ model: 'mock', downgradedFrom: 'mock_priced', outcome: 'ok', costUsd: 0 });
    const events = await readAllEvents(downgrading, second.id);
    const response = events.find((e) => e.type === 'llm.response');
    expect(response?.data).toMatchObject({ model: 'mock', downgradedFrom: 'mock_priced', costUsd: 0 });
  });

  it('ends a session whose budget refuses the call, saying why, without retrying', async () => {
    const first = await startSession(refusing, body);
    expect((await waitForStatus(refusing, first.id)).status).toBe('completed');

    const second = await startSession(refusing, body);
    const refused = await waitForStatus(refusing, second.id);
    expect(refused.status).toBe('failed');
    expect(refused.error).toContain(`model budget of tenant ${refusing.tenantId} exceeded: daily limit $2, spent $1.000000`);
    const rows = await ledgerRows(refusing.db, { tenantId: refusing.tenantId, sessionId: second.id });
    // Non-retryable: one attempt of the activity, one refused row.
    expect(rows.map((r) => [r.outcome, r.errorClass, r.costUsd])).toEqual([['refused', 'budget_exceeded', 0]]);
  });
});
