/**
 * `npx tsx scripts/record-encrypted-history.ts`: records one session whose
 * Temporal payloads are encrypted (temporal/codec/) into
 * test/histories/encrypted/, with the test keyring test/fixtures/payload-keys.json
 * (tenant acme-codec, versions 2 and 3). The key rotates mid-session: the start
 * and the first vote are under version 2, the rest under 3, so the replay
 * project proves both that it decodes with the keyring and that a rotated
 * keyring still opens the older payloads. Adds this one file; the other
 * recorded sets are left alone (`make record-histories` records those).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { REPO_ROOT } from '../config/index.js';
import { parseKeyringFile } from '../temporal/codec/keyring.js';
import { payloadKeyId } from '../temporal/codec/payload-codec.js';
import { codecPayloadsOf } from '../test/support/payloads.js';
import { startServices } from '../test/support/services.js';
import { startStack, waitFor } from '../test/support/stack.js';
import { startSession, vote, waitForGate, waitForStatus } from '../test/support/sessions.js';

const ENCRYPTED_HISTORY_TENANT = 'acme-codec';
const KEYRING = resolve(REPO_ROOT, 'test/fixtures/payload-keys.json');
const OUT = resolve(REPO_ROOT, 'test/histories/encrypted/rotated-mid-session.json');

async function main(): Promise<void> {
  // The stack starts with version 2 only; version 3 is "rotated in" after the first vote.
  const full = parseKeyringFile(readFileSync(KEYRING, 'utf8'), KEYRING);
  const [v2, v3] = full.tenants[ENCRYPTED_HISTORY_TENANT] ?? [];
  if (!v2 || !v3) throw new Error(`${KEYRING}: tenant ${ENCRYPTED_HISTORY_TENANT} needs two key versions`);
  const keys = join(mkdtempSync(join(tmpdir(), 'kortix-record-keys-')), 'payload-keys.json');
  writeFileSync(keys, JSON.stringify({ tenants: { [ENCRYPTED_HISTORY_TENANT]: [v2] } }));

  const services = await startServices('record-encrypted');
  const stack = await startStack(services.values, { tenantId: ENCRYPTED_HISTORY_TENANT, env: { PAYLOAD_CODEC_RING: keys } });
  try {
    // approval-shell: a gate; bob approves, the key rotates, carol rejects (no sandbox runs).
    const s = await startSession(stack, { message: 'delete the scratch file of the encrypted recording' });
    const gate = await waitForGate(stack, s.id);
    await vote(stack, s.id, gate.id, 'bob');
    copyFileSync(KEYRING, keys);
    await new Promise((r) => setTimeout(r, 1_100));
    await vote(stack, s.id, gate.id, 'carol', 'reject');
    await waitForStatus(stack, s.id, undefined, 60_000);
    const handle = stack.temporal.workflow.getHandle(s.id);
    await waitFor(async () => (await handle.describe()).status.name !== 'RUNNING', 30_000, 'the run to close');
    const history = await handle.fetchHistory();
    const text = historyToJSON(history);
    if (text.includes('scratch file')) throw new Error('the history holds the user message in clear: the codec is not on');
    const payloads = codecPayloadsOf(history);
    const ids = new Set(payloads.map((p) => payloadKeyId(p) ?? 'unencrypted'));
    if (ids.has('unencrypted')) throw new Error('a payload of the history is not encrypted');
    mkdirSync(resolve(OUT, '..'), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify(JSON.parse(text), null, 1)}\n`);
    console.log(`${OUT}: session ${s.id}, ${history.events?.length ?? 0} events, ${payloads.length} payloads under keys ${[...ids].sort().join(', ')}`);
  } finally {
    await stack.close();
    await services.stop();
  }
}

await main();
