/**
 * The full model policy: loading, faults reported with file:line: path,
 * key files, live reload that keeps the running policy on a bad edit; the
 * routing table; the complexity estimate; the offline tokenizer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { createLogger } from '../../observability/logger.js';
import { estimateTier } from '../../router/complexity.js';
import { loadModelPolicy, parseModelPolicy, type ResolvedModelPolicy, type Tier } from '../../router/model-policy.js';
import { ModelPolicyStore } from '../../router/policy-store.js';
import { ModelRouter } from '../../router/router.js';
import { countTextTokens, estimatePromptTokens } from '../../router/tokens.js';
import type { ChatMessage } from '../../router/types.js';
import { startFakeOpenAi } from '../support/fake-openai.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kortix-router-policy-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const FULL = `# every section of the format
default: local_llm
providers:
  vllm: { kind: openai-compatible, baseUrl: "http://gpu:8000/v1", apiKeyFile: vllm.key, timeoutMs: 5000 }
  claude: { kind: anthropic, baseUrlEnv: ANTHROPIC_BASE_URL, apiKeyEnv: ANTHROPIC_API_KEY }
  dev: { kind: mock, baseUrlEnv: MOCK_LLM_URL }
models:
  big: { provider: vllm, model: llama-70b, inputPerMTok: 0.5, outputPerMTok: 1.5, contextWindow: 32000, maxOutputTokens: 2048, tier: large }
  sonnet: { provider: claude, model: claude-sonnet-4, inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, contextWindow: 200000, tier: large, stream: true }
  vec: { provider: dev, model: mock-embed, type: embedding }
routes:
  - name: acme-everything
    match: { tenant: [acme] }
    model: sonnet
  - name: small
    match: { requestType: [classify, chat], tier: [small], maxPromptTokens: 2000 }
    model: local_llm
    temperature: 0
    cache: { ttlSeconds: 600 }
    fallbacks: { rate_limit: [openai], server_error: [openai], timeout: [openai], context_window: [big] }
  - name: long
    match: { minPromptTokens: 2001 }
    model: big
    onContextOverflow: summarize
    cache: { enabled: false }
fallbacks: { server_error: [anthropic] }
retries: { maxRetries: 2, initialDelayMs: 100, maxDelayMs: 1000, retryOn: [server_error] }
cooldown: { failures: 5, windowSeconds: 30, cooldownSeconds: 10 }
budgets:
  default: { dailyUsd: 10, onExceeded: { action: downgrade, model: local_llm } }
  tenants:
    acme: { dailyUsd: 100, monthlyUsd: 1000, onExceeded: { action: refuse } }
cache: { ttlSeconds: 120 }
context: { onOverflow: trim, summaryModel: local_llm, keepRecentMessages: 6, estimateMargin: 1.2 }
mergeInFlight: false
embeddings: { model: vec, batch: { windowMs: 10, maxInputs: 32 } }
`;

describe('the full policy format', () => {
  it('loads every section, with defaults filled in and the key file read', () => {
    writeFileSync(join(dir, 'vllm.key'), 'sk-vllm-secret\n');
    const policy = loadModelPolicy(file('full.yaml', FULL));
    expect(policy.routes.map((r) => [r.name, r.model])).toEqual([
      ['acme-everything', 'sonnet'],
      ['small', 'local_llm'],
      ['long', 'big'],
    ]);
    const [acme, small, long] = policy.routes;
    // A route without its own chains uses the policy's; cache settings fall back to the policy's.
    expect(acme?.fallbacks).toEqual({ server_error: ['anthropic'] });
    expect(acme?.cache).toEqual({ enabled: true, ttlSeconds: 120, deterministic: false });
    expect(small).toMatchObject({ temperature: 0, cache: { enabled: true, ttlSeconds: 600 }, onContextOverflow: 'trim' });
    expect(long).toMatchObject({ cache: { enabled: false }, onContextOverflow: 'summarize' });
    expect(policy.defaultRoute).toMatchObject({ name: 'default', model: 'local_llm', match: {} });
    expect(policy.models.sonnet).toMatchObject({ tier: 'large', stream: true, maxOutputTokens: 1024, type: 'chat' });
    expect(policy.providers.vllm?.apiKey?.reveal()).toBe('sk-vllm-secret');
    expect(JSON.stringify(policy.providers.vllm)).not.toContain('sk-vllm-secret');
    expect(policy.providers.dev?.passMetadata).toBe(true);
    expect(policy.budgets.tenants.acme).toEqual({ dailyUsd: 100, monthlyUsd: 1000, onExceeded: { action: 'refuse' } });
    expect(policy.retries).toEqual({ maxRetries: 2, initialDelayMs: 100, maxDelayMs: 1000, retryOn: ['server_error'] });
    expect(policy.context.estimateMargin).toBe(1.2);
    expect(policy.mergeInFlight).toBe(false);
    expect(policy.embeddings).toEqual({ model: 'vec', batch: { windowMs: 10, maxInputs: 32 } });
  });

  it('sends the key from the key file as the bearer token', async () => {
    const fake = await startFakeOpenAi();
    try {
      writeFileSync(join(dir, 'local.key'), 'sk-from-file\n');
      const policy = loadModelPolicy(
        file('keyfile.yaml', `default: m\nproviders:\n  p: { kind: openai-compatible, baseUrl: "${fake.url}", apiKeyFile: local.key }\nmodels:\n  m: { provider: p, model: x }\n`),
      );
      const router = new ModelRouter({ policy, env: {}, timeoutMs: 2_000 });
      await router.complete({ tenantId: 't', messages: [{ role: 'user', content: 'hi' }] });
      expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-from-file');
    } finally {
      await fake.close();
    }
  });

  it.each([
    ['a fallback to an unknown model', 'default: mock\nroutes:\n  - name: r\n    model: mock\n    fallbacks:\n      timeout: [mock, nope]\n', 6, 'routes.0.fallbacks.timeout.1: unknown model "nope"'],
    ['a downgrade to an unknown model', 'default: mock\nbudgets:\n  tenants:\n    acme:\n      dailyUsd: 5\n      onExceeded: { action: downgrade, model: cheap }\n', 6, 'budgets.tenants.acme.onExceeded.model: unknown model "cheap"'],
    ['a budget without limits', 'default: mock\nbudgets:\n  default:\n    onExceeded: { action: refuse }\n', 4, 'budgets.default: needs dailyUsd or monthlyUsd'],
    ['an unknown budget action', 'default: mock\nbudgets:\n  default:\n    dailyUsd: 1\n    onExceeded: { action: shrug }\n', 5, 'budgets.default.onExceeded.action'],
    ['a key variable that is not configuration', 'default: mock\nproviders:\n  p:\n    kind: openai-compatible\n    baseUrl: "http://x/v1"\n    apiKeyEnv: MY_SECRET_KEY\n', 6, 'providers.p.apiKeyEnv: MY_SECRET_KEY is not a configuration variable'],
    ['a key file that does not exist', 'default: mock\nproviders:\n  p:\n    kind: openai-compatible\n    baseUrl: "http://x/v1"\n    apiKeyFile: missing.key\n', 6, 'providers.p.apiKeyFile: cannot read'],
    ['both routes and the short list', 'default: mock\nroutes:\n  - { name: a, model: mock }\npolicies:\n  - { type: x, model: mock }\n', 5, 'policies: give routes or the short policies list, not both'],
    ['a duplicate route name', 'default: mock\nroutes:\n  - name: a\n    model: mock\n  - name: a\n    model: mock\n', 5, 'routes.1.name: duplicate route name "a"'],
    ['an answer as large as the window', 'default: m\nmodels:\n  m:\n    provider: mock\n    model: m\n    contextWindow: 1000\n    maxOutputTokens: 1000\n', 7, 'models.m.maxOutputTokens: must be below contextWindow (1000)'],
    ['a chat model as the embedding model', 'default: mock\nembeddings:\n  model: mock\n', 3, 'embeddings.model: model "mock" is not a embedding model'],
    ['an embedding model as a route model', 'default: mock\nroutes:\n  - name: r\n    model: mock_embed\n', 4, 'routes.0.model: model "mock_embed" is not a chat model'],
    ['an unknown tier', 'default: mock\nroutes:\n  - name: r\n    match: { tier: [huge] }\n    model: mock\n', 4, 'routes.0.match.tier.0'],
    ['inverted token bounds', 'default: mock\nroutes:\n  - name: r\n    match:\n      minPromptTokens: 10\n      maxPromptTokens: 5\n    model: mock\n', 5, 'routes.0.match: minPromptTokens is above maxPromptTokens'],
    ['an unknown key in a route', 'default: mock\nroutes:\n  - name: r\n    modle: mock\n', 4, 'routes.0.modle: unknown key'],
  ])('refuses %s at its file, line and path', (_what, text, line, message) => {
    const path = file('bad.yaml', text);
    let error: Error | undefined;
    try {
      loadModelPolicy(path);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).toContain(`${path}:${line}: ${message}`);
  });

  it('refuses a policy given in code naming each path', () => {
    expect(() => parseModelPolicy({ default: 'mock', routes: [{ name: 'r', model: 'ghost' }] }, 'inline')).toThrow(
      'Invalid model policy inline:\n  - routes.0.model: unknown model "ghost"',
    );
  });
});

describe('live reload', () => {
  it('applies a good edit, and keeps the running policy on a bad one, logging file:line', async () => {
    const path = file('live.yaml', 'default: mock\n');
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const store = new ModelPolicyStore(path, logger);
    const stop = store.watch(20);
    const waitFor = async (probe: () => boolean) => {
      for (let i = 0; i < 200 && !probe(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(probe()).toBe(true);
    };
    try {
      expect(store.current.defaultRoute.model).toBe('mock');
      writeFileSync(path, 'default: openai\n');
      await waitFor(() => store.version === 2);
      expect(store.current.defaultRoute.model).toBe('openai');

      writeFileSync(path, 'default: openai\nroutes:\n  - name: r\n    model: gpt-99\n');
      await waitFor(() => lines.some((l) => l.level === 'error'));
      expect(store.version).toBe(2);
      expect(store.current.defaultRoute.model).toBe('openai');
      const refused = lines.find((l) => l.level === 'error');
      expect(refused?.msg).toBe('model policy edit refused; the running policy stays');
      expect(String(refused?.error)).toContain(`${path}:4: routes.0.model: unknown model "gpt-99"`);

      writeFileSync(path, 'default: local_llm\n');
      await waitFor(() => store.version === 3);
      expect(store.current.defaultRoute.model).toBe('local_llm');
    } finally {
      stop();
    }
  });

  it('a router reads the reloaded policy on its next call', () => {
    const path = file('router-live.yaml', 'default: mock\n');
    const store = new ModelPolicyStore(path);
    const router = new ModelRouter({ policy: store, env: {}, timeoutMs: 1_000 });
    expect(router.choose({})).toBe('mock');
    writeFileSync(path, 'default: openai\n');
    expect(store.reload()).toBe(true);
    expect(router.choose({})).toBe('openai');
    // An unchanged file is not reloaded.
    expect(store.reload()).toBe(false);
  });
});

describe('the routing table', () => {
  const policy: ResolvedModelPolicy = parseModelPolicy({
    default: 'mock',
    routes: [
      { name: 'vip', match: { tenant: ['acme'], requestType: ['chat'] }, model: 'anthropic' },
      { name: 'tiny', match: { requestType: ['chat', 'classify'], tier: ['small'], maxPromptTokens: 50 }, model: 'local_llm' },
      { name: 'long', match: { minPromptTokens: 51, tier: ['small', 'medium'] }, model: 'openai' },
      { name: 'hard', match: { tier: ['large'] }, model: 'anthropic' },
      { name: 'classify', match: { requestType: ['classify'] }, model: 'openai' },
    ],
  });
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 1_000 });
  const short: ChatMessage[] = [{ role: 'user', content: 'yes or no?' }];
  const long: ChatMessage[] = [{ role: 'user', content: 'word '.repeat(200) }];

  it.each([
    ['the tenant route first', { tenantId: 'acme', requestType: 'chat', tier: 'small' as Tier, messages: short }, 'vip', 'anthropic'],
    ['another tenant skips it', { tenantId: 'other', requestType: 'chat', tier: 'small' as Tier, messages: short }, 'tiny', 'local_llm'],
    ['a long prompt skips the small route', { tenantId: 'other', requestType: 'chat', tier: 'small' as Tier, messages: long }, 'long', 'openai'],
    ['a large tier', { tenantId: 'other', requestType: 'chat', tier: 'large' as Tier, messages: short }, 'hard', 'anthropic'],
    ['a medium classify request', { tenantId: 'other', requestType: 'classify', tier: 'medium' as Tier, messages: short }, 'classify', 'openai'],
    ['no match: the default', { tenantId: 'other', requestType: 'poetry', tier: 'medium' as Tier, messages: short }, 'default', 'mock'],
    ['an explicit model wins, the route still decides settings', { tenantId: 'acme', requestType: 'chat', model: 'openai', messages: short }, 'vip', 'openai'],
  ])('%s', (_what, request, route, model) => {
    const decision = router.decide(request);
    expect(decision.route.name).toBe(route);
    expect(decision.model).toBe(model);
  });

  it('estimates the tier when the request gives none', () => {
    expect(router.decide({ tenantId: 'other', requestType: 'chat', messages: short })).toMatchObject({ tier: 'small', model: 'local_llm' });
    const proof = [{ role: 'user' as const, content: 'Prove that the algorithm terminates' }];
    expect(router.decide({ tenantId: 'other', requestType: 'chat', messages: proof })).toMatchObject({ tier: 'large', model: 'anthropic' });
  });

  it('refuses an unknown tier or model as a bad request', () => {
    expect(() => router.decide({ tenantId: 't', tier: 'huge' as Tier, messages: short })).toThrow(/unknown complexity tier "huge"/);
    expect(() => router.decide({ tenantId: 't', model: 'mock_embed', messages: short })).toThrow(/unknown model "mock_embed"/);
  });
});

describe('complexity estimate', () => {
  const tier = (content: string, extra: { promptTokens?: number; hasTools?: boolean } = {}) =>
    estimateTier({ messages: [{ role: 'system', content: 'You help.' }, { role: 'user', content }], promptTokens: extra.promptTokens ?? 20, hasTools: extra.hasTools ?? false });

  it.each([
    ['Is this sentence positive or negative? "Great product"', 'small'],
    ['Translate "good morning" to French', 'medium'],
    ['Explain how a hash map works', 'medium'],
    ['Write a function that reverses a list', 'medium'],
    ['Design the architecture of a multi-region queue and its trade-offs', 'large'],
    ['Do a security review of this login flow', 'large'],
  ] as const)('%s → %s', (content, expected) => {
    expect(tier(content)).toBe(expected);
  });

  it('goes up with prompt size and tools, never down', () => {
    expect(tier('ok?', { hasTools: true })).toBe('medium');
    expect(tier('ok?', { promptTokens: 5_000 })).toBe('medium');
    expect(tier('ok?', { promptTokens: 30_000 })).toBe('large');
    const code = '```\n' + 'x = 1\n'.repeat(80) + '```';
    expect(tier(`this crashes, fix it\n${code}`)).toBe('large');
  });
});

describe('token estimate', () => {
  it('counts special-token text as plain text instead of throwing', () => {
    const text = 'before <|endoftext|> after <|im_start|>system';
    expect(countTextTokens(text)).toBeGreaterThan(10);
    expect(estimatePromptTokens([{ role: 'user', content: text }])).toBe(countTextTokens(text) + 6);
  });

  it('counts tool calls and tool definitions, and remembers long texts', () => {
    const bare = estimatePromptTokens([{ role: 'user', content: 'hi' }]);
    const withTools = estimatePromptTokens([{ role: 'user', content: 'hi' }], [{ type: 'function', function: { name: 'shell', parameters: { type: 'object' } } }]);
    expect(withTools).toBeGreaterThan(bare);
    const long = 'the same long tool output '.repeat(500);
    expect(countTextTokens(long)).toBe(countTextTokens(long));
    expect(countTextTokens(long)).toBeGreaterThan(2_000);
  });

  it('the shipped policy loads and estimates its own file', () => {
    const policy = loadModelPolicy(join(REPO_ROOT, 'router/model_policy.yaml'));
    expect(policy.budgets.default?.onExceeded).toEqual({ action: 'downgrade', model: 'local_llm' });
  });
});
