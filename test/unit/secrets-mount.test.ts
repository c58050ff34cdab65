/**
 * One-call secret mounts and masking in streams (issue 15), the parts without
 * a sandbox: the spec's `mount` (paths under /run/secrets only, reported at
 * their field), shell's `mount_secrets` argument, the forced gate and what
 * the approver reads, the order write → run → remove whatever the run does
 * (activities/secret-mounts.ts against a recording host), and masking of a
 * byte stream with a value split at every possible chunk boundary. The real
 * sandbox is test/integration/secrets-mount.test.ts.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { withSecretMounts } from '../../activities/secret-mounts.js';
import { maskToolResult } from '../../activities/session-secrets.js';
import type { ExecToolInput } from '../../activities/types.js';
import { agentSpecSchema } from '../../agents/schema.js';
import { mergeSecretReferences } from '../../domain/secret-binding.js';
import { approvalDisplay } from '../../policies/approval-display.js';
import { evaluatePolicy, secretMountDecision } from '../../policies/evaluate.js';
import { policySchema } from '../../policies/schema.js';
import { SandboxToolError } from '../../sandbox/errors.js';
import { parseToolCall } from '../../sandbox/tools.js';
import { SecretMasker } from '../../secrets/mask.js';
import { maskedBody, maskingStream } from '../../secrets/mask-stream.js';
import type { SecretProvider } from '../../secrets/provider.js';

const VALUE = 'dk_M0unt/V4lue+with=chars';
const LABEL = '[masked secret deploy-key]';
const masker = new SecretMasker([{ name: 'deploy-key', value: VALUE }]);
const spec = (secrets: unknown) => ({ systemPrompt: 'deploy', tools: ['shell'], policy: 'standard', secrets });

describe('a secret mount in an agent spec', () => {
  it('takes a file directly under /run/secrets, alone or beside a binding', () => {
    const parsed = agentSpecSchema.parse(
      spec([
        { name: 'deploy-key', mount: { path: '/run/secrets/deploy-key' } },
        { name: 'gh', hosts: ['api.github.com'], inject: { header: 'Authorization' }, mount: { path: '/run/secrets/gh.token' } },
        'plain-name',
      ]),
    );
    expect(mergeSecretReferences([], parsed.secrets)).toEqual([
      { name: 'deploy-key', mount: { path: '/run/secrets/deploy-key' } },
      { name: 'gh', hosts: ['api.github.com'], inject: { header: 'Authorization', format: 'Bearer {value}' }, mount: { path: '/run/secrets/gh.token' } },
      { name: 'plain-name' },
    ]);
  });

  it.each([
    ['/etc/passwd', 'directly under /run/secrets/'],
    ['/run/secrets/../../etc/shadow', 'no . or .. segments'],
    ['/run/secrets/./x', 'no . or .. segments'],
    ['/run/secrets/', 'one name'],
    ['/run/secrets/a/b', 'one name'],
    ['/run/secrets/a\0b', 'NUL'],
    ['/run/secrets/a\nb', 'NUL or line break'],
    ['/run/secretsX/a', 'directly under'],
    ['relative/run/secrets/a', 'directly under'],
  ])('refuses %j at secrets[0].mount.path', (path, message) => {
    const r = agentSpecSchema.safeParse(spec([{ name: 'deploy-key', mount: { path } }]));
    expect(r.success).toBe(false);
    const issue = r.error?.issues[0];
    expect(issue?.path).toEqual(['secrets', 0, 'mount', 'path']);
    expect(issue?.message).toContain(message);
  });

  it('refuses an entry that neither binds nor mounts, hosts without inject, and two secrets on one path', () => {
    const paths = (secrets: unknown) => agentSpecSchema.safeParse(spec(secrets)).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(paths([{ name: 'a' }])).toEqual([expect.stringMatching(/^secrets\.0\.mount: give hosts/)]);
    expect(paths([{ name: 'a', hosts: ['x.example.com'] }])).toEqual([expect.stringMatching(/^secrets\.0\.inject: hosts and inject go together/)]);
    expect(paths([{ name: 'a', mount: { path: '/run/secrets/k', mode: '0644' } }])).toEqual([expect.stringMatching(/^secrets\.0\.mount: /)]);
    expect(
      paths([
        { name: 'a', mount: { path: '/run/secrets/k' } },
        { name: 'b', mount: { path: '/run/secrets/k' } },
      ]),
    ).toEqual(['secrets: two secrets mounted at the same path']);
  });
});

describe("shell's mount_secrets", () => {
  it('is kept only when given (a call without it parses as before) and must name distinct secrets', () => {
    expect(parseToolCall('shell', JSON.stringify({ command: 'ls' }))).toEqual({ ok: true, call: { name: 'shell', args: { command: 'ls', timeout_seconds: 60 } } });
    expect(parseToolCall('shell', JSON.stringify({ command: 'ls', mount_secrets: [] }))).toEqual({ ok: true, call: { name: 'shell', args: { command: 'ls', timeout_seconds: 60 } } });
    expect(parseToolCall('shell', JSON.stringify({ command: 'cat /run/secrets/k', mount_secrets: ['deploy-key'] }))).toEqual({
      ok: true,
      call: { name: 'shell', args: { command: 'cat /run/secrets/k', timeout_seconds: 60, mount_secrets: ['deploy-key'] } },
    });
    for (const bad of ['deploy-key', ['a', 'a'], ['../x'], ['a/b'], [1], ['a\0'], ['a', 'b', 'c', 'd', 'e', 'f']]) {
      expect(parseToolCall('shell', JSON.stringify({ command: 'ls', mount_secrets: bad })), JSON.stringify(bad)).toMatchObject({ ok: false, error: expect.stringContaining('mount_secrets') });
    }
  });
});

describe('the gate of a mount', () => {
  const policy = policySchema.parse({
    name: 'p',
    tools: ['shell'],
    approval: { approvers: 1 },
    rules: [
      { id: 'rm', tool: 'shell', match: { command: '^rm ' }, action: 'approve', risk: 'medium', approval: { approvers: 2 } },
      { id: 'curl', tool: 'shell', match: { command: '^curl ' }, action: 'deny', reason: 'no curl' },
      { id: 'rest', tool: 'shell', action: 'allow' },
    ],
    default: 'deny',
  });
  const mounts = [{ name: 'deploy-key', path: '/run/secrets/deploy-key' }];
  const decide = (command: string) => secretMountDecision(policy, evaluatePolicy(policy, { name: 'shell', arguments: { command } }), mounts);

  it('is forced on an allowed call, keeps a rule gate (naming the secret too) and never lifts a deny', () => {
    expect(decide('cat /run/secrets/deploy-key')).toMatchObject({ action: 'approve', ruleId: 'secrets.mount', risk: 'high', approvers: 1, reason: 'mounts secret deploy-key at /run/secrets/deploy-key for this call only' });
    expect(decide('rm -rf x')).toMatchObject({ action: 'approve', ruleId: 'rm', approvers: 2, reason: expect.stringContaining('mounts secret deploy-key') });
    expect(decide('curl x')).toMatchObject({ action: 'deny', ruleId: 'curl' });
  });

  it('shows the approver which secret goes where, above the command, and no value', () => {
    const d = approvalDisplay('shell', { command: 'gh auth status', mount_secrets: ['deploy-key'], secret_mounts: mounts });
    expect(d.subject).toBe('# mounts secret deploy-key at /run/secrets/deploy-key for this command only\ngh auth status');
    // A call without mounts reads as before.
    expect(approvalDisplay('shell', { command: 'gh auth status' }).subject).toBe('gh auth status');
  });
});

describe('masking a byte stream', () => {
  const chunks = async (parts: Buffer[], cutEnd = false) => (await buffer(Readable.from(parts).pipe(maskingStream(masker, { cutEnd })))).toString('utf8');
  const forms = (v: string) => [
    v,
    Buffer.from(v).toString('base64'),
    Buffer.from(`x${v}`).toString('base64').slice(2, -2),
    Buffer.from(`xy${v}`).toString('base64').slice(3, -3),
    encodeURIComponent(v),
  ];

  it('masks a value split at every byte between two chunks, in each encoding (base64 at byte offsets 0, 1 and 2)', async () => {
    const texts = [
      `a${VALUE}b`,
      `b64 ${Buffer.from(VALUE).toString('base64')}\n`,
      `off1 ${Buffer.from(`x${VALUE}`).toString('base64')}\n`,
      `off2 ${Buffer.from(`xy${VALUE}`).toString('base64')}\n`,
      `url ${encodeURIComponent(VALUE)}\n`,
    ];
    for (const text of texts) {
      const bytes = Buffer.from(text);
      for (let at = 0; at <= bytes.length; at++) {
        const out = await chunks([bytes.subarray(0, at), bytes.subarray(at)]);
        for (const f of forms(VALUE)) expect(out, `${text} split at ${at}`).not.toContain(f);
        expect(out, `${text} split at ${at}`).toContain(LABEL);
      }
    }
  });

  it('masks a value spread over one-byte chunks, keeps other bytes as they were, and masks the start of a value at a cut end', async () => {
    const text = `head ${VALUE} middle ${Buffer.from(VALUE).toString('base64')} tail \u00e9\u0000`;
    const out = await chunks([...Buffer.from(text)].map((b) => Buffer.from([b])));
    // As masking the whole text at once (base64 padding after a masked value stays: it tells nothing).
    expect(out).toBe(`head ${LABEL} middle ${LABEL}== tail \u00e9\u0000`);
    expect(out).toBe(masker.maskBytes(Buffer.from(text)).toString('utf8'));
    expect(await chunks([Buffer.from(`kept ${VALUE.slice(0, 9)}`)], true)).toBe(`kept ${LABEL}`);
    expect(await chunks([Buffer.from(`kept ${VALUE.slice(0, 9)}`)], false)).toBe(`kept ${VALUE.slice(0, 9)}`);
  });

  it('passes a large stream through with only the value changed, and an error of the source on', async () => {
    const filler = Buffer.alloc(1 << 20, 'z');
    const body = Buffer.concat([filler, Buffer.from(VALUE), filler]);
    const parts = [];
    for (let i = 0; i < body.length; i += 65_521) parts.push(body.subarray(i, i + 65_521));
    const out = await chunks(parts);
    expect(out.length).toBe(2 * filler.length + LABEL.length);
    expect(out.slice(filler.length, filler.length + LABEL.length)).toBe(LABEL);
    const failing = new Readable({ read() { this.destroy(new Error('sandbox gone')); } });
    await expect(buffer(maskedBody(masker, failing))).rejects.toThrow('sandbox gone');
  });
});

describe('a tool result with kept tails', () => {
  it('masks the end of a value at the start of stdout_tail (the tail begins at a cut)', () => {
    const r = maskToolResult(masker, { ok: true, truncated: true, stdout: `a ${VALUE.slice(0, 8)}`, stdout_tail: `${VALUE.slice(-8)} z` });
    expect(r).toMatchObject({ stdout: `a ${LABEL}`, stdout_tail: `${LABEL} z` });
  });
});

describe('withSecretMounts', () => {
  const calls: string[] = [];
  const host = {
    writeSecretFiles: async (_id: string, files: readonly { name: string; path: string; value: string }[]) => {
      calls.push(`write ${files.map((f) => `${f.path}=${f.value}`).join(',')}`);
    },
    removeSecretFiles: async (_id: string, paths: readonly string[]) => {
      calls.push(`remove ${paths.join(',')}`);
    },
  };
  const provider = { kind: 'files', get: async (_t: string, name: string) => ({ value: `${name}-value`, version: '1' }), exists: async () => true } as unknown as SecretProvider;
  const secrets = [
    { name: 'deploy-key', mount: { path: '/run/secrets/deploy-key' } },
    { name: 'other', mount: { path: '/run/secrets/other' } },
    { name: 'bound', hosts: ['x.example.com'], inject: { header: 'Authorization', format: 'Bearer {value}' } },
  ];
  const input = (args: Record<string, unknown>, extra: Partial<ExecToolInput> = {}): ExecToolInput => ({
    session: { tenantId: 't', sessionId: 's', createdAt: '2026-01-01T00:00:00Z' },
    lease: { containerId: 'c', hostId: 'h', taskQueue: 'q' },
    messageSeq: 3,
    toolCallId: 'call',
    call: { name: 'shell', args: { command: 'cat', timeout_seconds: 10, ...args } },
    idempotencyKey: 'k',
    secrets,
    ...extra,
  });
  const approved = { mounts: { secrets: [{ name: 'deploy-key', path: '/run/secrets/deploy-key' }], gate: 'gate-3' } };

  it('writes the approved file just before the run and removes it after, also when the run fails', async () => {
    calls.length = 0;
    await withSecretMounts({ host, provider }, input({ mount_secrets: ['deploy-key'] }, approved), async () => calls.push('run'));
    expect(calls).toEqual(['remove /run/secrets/other', 'write /run/secrets/deploy-key=deploy-key-value', 'run', 'remove /run/secrets/deploy-key']);
    calls.length = 0;
    const failing = withSecretMounts({ host, provider }, input({ mount_secrets: ['deploy-key'] }, approved), async () => {
      calls.push('run');
      throw new Error('timed out');
    });
    await expect(failing).rejects.toThrow('timed out');
    expect(calls.at(-1)).toBe('remove /run/secrets/deploy-key');
  });

  it('never mounts without an approved gate, nor a secret or path the gate did not name; other calls only clear leftovers', async () => {
    calls.length = 0;
    const run = async () => calls.push('run');
    await expect(withSecretMounts({ host, provider }, input({ mount_secrets: ['deploy-key'] }), run)).rejects.toThrow(SandboxToolError);
    await expect(withSecretMounts({ host, provider }, input({ mount_secrets: ['other'] }, approved), run)).rejects.toThrow(/not approved/);
    const elsewhere = { mounts: { secrets: [{ name: 'deploy-key', path: '/run/secrets/elsewhere' }], gate: 'gate-3' } };
    await expect(withSecretMounts({ host, provider }, input({ mount_secrets: ['deploy-key'] }, elsewhere), run)).rejects.toThrow(/not approved/);
    expect(calls).toEqual([]);
    await withSecretMounts({ host, provider }, input({}), run);
    expect(calls).toEqual(['remove /run/secrets/deploy-key,/run/secrets/other', 'run']);
    calls.length = 0;
    await withSecretMounts({ host, provider }, input({}, { secrets: [secrets[2] as (typeof secrets)[number]] }), run);
    expect(calls).toEqual(['run']);
  });

  it('refuses to mount a value too short to be masked in the output', async () => {
    calls.length = 0;
    const short = { ...provider, get: async () => ({ value: 'abc12', version: '1' }) } as SecretProvider;
    await expect(withSecretMounts({ host, provider: short }, input({ mount_secrets: ['deploy-key'] }, approved), async () => calls.push('run'))).rejects.toThrow(/shorter than 6 characters/);
    expect(calls).toEqual(['remove /run/secrets/other']);
  });
});
