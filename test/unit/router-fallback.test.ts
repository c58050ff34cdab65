/**
 * Failures through the router against two fake OpenAI-compatible servers on
 * loopback: retries inside the attempt (short waits only), fallback chains per
 * error class on 429 / 500 / timeout, no fallback for a bad request, cooldown
 * of a failing deployment, streams (usage accounted, a stream broken before
 * its first token falls back, after it does not), and the classification that
 * llmStep hands to Temporal.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseModelPolicy } from '../../router/model-policy.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { MemoryRouterStore } from '../../router/stores.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { llmError } from '../support/router-fixtures.js';

let a: FakeOpenAi;
let b: FakeOpenAi;
beforeAll(async () => {
  [a, b] = await Promise.all([startFakeOpenAi(), startFakeOpenAi()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});
afterEach(() => {
  a.reset();
  b.reset();
});

function setup(extra: Record<string, unknown> = {}, clock = { now: 1_000_000 }) {
  const policy = parseModelPolicy({
    providers: {
      a: { kind: 'openai-compatible', baseUrl: a.url, timeoutMs: 300 },
      b: { kind: 'openai-compatible', baseUrl: b.url },
    },
    models: {
      ma: { provider: 'a', model: 'model-a', inputPerMTok: 1, outputPerMTok: 2 },
      mb: { provider: 'b', model: 'model-b', inputPerMTok: 3, outputPerMTok: 4 },
      ma_stream: { provider: 'a', model: 'model-a', stream: true, inputPerMTok: 1, outputPerMTok: 2 },
    },
    default: 'ma',
    routes: [
      {
        name: 'main',
        match: { requestType: ['chat'] },
        model: 'ma',
        fallbacks: { rate_limit: ['mb'], server_error: ['mb'], timeout: ['mb'] },
      },
      { name: 'streamed', match: { requestType: ['stream'] }, model: 'ma_stream', fallbacks: { server_error: ['mb'], timeout: ['mb'] } },
    ],
    retries: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 50, retryOn: ['rate_limit', 'server_error', 'unavailable'] },
    cooldown: { failures: 2, windowSeconds: 60, cooldownSeconds: 30 },
    ...extra,
  });
  const store = new MemoryRouterStore(() => clock.now);
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: store, now: () => clock.now });
  return { router, store, clock };
}

const request = (content = 'hello', extra: Partial<RouteRequest> = {}): RouteRequest => ({
  tenantId: 't1',
  sessionId: 's1',
  requestType: 'chat',
  messages: [{ role: 'user', content }],
  ...extra,
});

const fail = (status: number, headers: Record<string, string> = {}) => ({ status, headers, body: { error: { message: `boom ${status}` } } });

describe('fallback chains', () => {
  it('falls back on a 429 whose Retry-After is too long to wait inside the attempt', async () => {
    const { router, store } = setup();
    a.script(fail(429, { 'retry-after': '5' }));
    const answer = await router.complete(request());
    expect(a.count()).toBe(1);
    expect(b.count()).toBe(1);
    expect(answer).toMatchObject({ model: 'mb', provider: 'b', fallbackUsed: true, attempts: 2, content: 'echo: hello' });
    // Priced from mb's table: 100 in at $3, 10 out at $4 per MTok.
    expect(answer.costUsd).toBe(0.00034);
    expect(store.rows).toHaveLength(1);
    expect(store.rows[0]).toMatchObject({ outcome: 'ok', model: 'mb', fallbackUsed: true, attempts: 2, costUsd: 0.00034, route: 'main' });
  });

  it('retries a 429 with a short Retry-After on the same deployment', async () => {
    const { router } = setup();
    a.script(fail(429, { 'retry-after': '0' }));
    const answer = await router.complete(request());
    expect([a.count(), b.count()]).toEqual([2, 0]);
    expect(answer).toMatchObject({ model: 'ma', fallbackUsed: false, attempts: 2 });
  });

  it('retries a 500 once, then falls back', async () => {
    const { router } = setup();
    a.script(fail(500), fail(500));
    const answer = await router.complete(request());
    expect([a.count(), b.count()]).toEqual([2, 1]);
    expect(answer.model).toBe('mb');
  });

  it('falls back on a timeout without waiting again', async () => {
    const { router } = setup();
    a.script({ hang: true });
    const answer = await router.complete(request());
    expect([a.count(), b.count()]).toEqual([1, 1]);
    expect(answer).toMatchObject({ model: 'mb', fallbackUsed: true });
  });

  it('does not fall back on a bad request, and says it is not retryable', async () => {
    const { router, store } = setup();
    a.script(fail(400));
    const error = await llmError(router.complete(request()));
    expect(error).toMatchObject({ errorClass: 'bad_request', retryable: false });
    expect([a.count(), b.count()]).toEqual([1, 0]);
    expect(store.rows[0]).toMatchObject({ outcome: 'error', errorClass: 'bad_request', costUsd: 0 });
  });

  it('gives the last error to Temporal, with Retry-After, when the whole chain fails', async () => {
    const { router, store } = setup();
    a.script(fail(503), fail(503));
    b.script(fail(429, { 'retry-after': '7' }));
    const error = await llmError(router.complete(request()));
    expect(error).toMatchObject({ errorClass: 'rate_limit', retryable: true, details: { retryAfterMs: 7000 } });
    expect(store.rows[0]).toMatchObject({ outcome: 'error', errorClass: 'rate_limit', attempts: 3 });
  });
});

describe('cooldown', () => {
  it('skips a deployment that keeps failing until its cooldown ends', async () => {
    const { router, clock } = setup();
    a.script(fail(500), fail(500)); // two failures within the window: cooldown
    await router.complete(request('one'));
    expect([a.count(), b.count()]).toEqual([2, 1]);

    await router.complete(request('two'));
    expect([a.count(), b.count()]).toEqual([2, 2]); // a skipped: no request reached it

    clock.now += 31_000;
    const back = await router.complete(request('three'));
    expect([a.count(), b.count()]).toEqual([3, 2]);
    expect(back.model).toBe('ma');
  });

  it('puts a rate-limited deployment in cooldown for its Retry-After', async () => {
    const { router, clock } = setup();
    a.script(fail(429, { 'retry-after': '10' }));
    await router.complete(request('one'));
    await router.complete(request('two'));
    expect([a.count(), b.count()]).toEqual([1, 2]);
    clock.now += 10_500;
    await router.complete(request('three'));
    expect(a.count()).toBe(2);
  });

  it('asks Temporal to come back when every deployment is cooling down', async () => {
    const { router } = setup();
    a.script(fail(500), fail(500));
    b.script(fail(500), fail(500));
    await llmError(router.complete(request('one')));
    const error = await llmError(router.complete(request('two')));
    expect(error).toMatchObject({ errorClass: 'unavailable', retryable: true });
    expect(error.message).toBe('every deployment of route main is cooling down');
    expect(error.details.retryAfterMs).toBeGreaterThan(29_000);
    expect([a.count(), b.count()]).toEqual([2, 2]);
  });
});

describe('streams', () => {
  it('asks for usage on a stream and bills what the provider reported', async () => {
    const { router, store } = setup();
    a.script({ content: 'streamed answer', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    const deltas: string[] = [];
    const answer = await router.complete(request('go', { requestType: 'stream', onDelta: (t) => deltas.push(t) }));
    expect(a.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(deltas.join('')).toBe('streamed answer');
    expect(answer).toMatchObject({ content: 'streamed answer', usage: { inputTokens: 1000, outputTokens: 500 } });
    expect(answer.costUsd).toBe(0.002);
    expect(store.rows[0]).toMatchObject({ usageEstimated: false, inputTokens: 1000, outputTokens: 500, costUsd: 0.002 });
  });

  it('estimates usage when a stream brings none, and says so in the ledger', async () => {
    const { router, store } = setup();
    a.script({ content: 'no usage here', omitStreamUsage: true });
    const answer = await router.complete(request('go', { requestType: 'stream' }));
    expect(answer.usageEstimated).toBe(true);
    expect(answer.usage.inputTokens).toBeGreaterThan(0);
    expect(answer.usage.outputTokens).toBeGreaterThan(0);
    expect(store.rows[0]?.usageEstimated).toBe(true);
  });

  it('falls back when the stream breaks before its first token', async () => {
    const { router } = setup();
    // Broken twice: the in-attempt retry, then the fallback.
    a.script({ breakStream: 'before-first-token' }, { breakStream: 'before-first-token' });
    const answer = await router.complete(request('go', { requestType: 'stream' }));
    expect([a.count(), b.count()]).toEqual([2, 1]);
    expect(answer).toMatchObject({ model: 'mb', fallbackUsed: true, content: 'echo: go' });
  });

  it('does not replay to a fallback a stream that broke after tokens reached the caller', async () => {
    const { router } = setup();
    a.script({ content: 'half and half', breakStream: 'after-first-token' });
    const deltas: string[] = [];
    const error = await llmError(router.complete(request('go', { requestType: 'stream', onDelta: (t) => deltas.push(t) })));
    expect(error).toMatchObject({ errorClass: 'unavailable', retryable: true, details: { partial: true } });
    expect(deltas).toEqual(['half an']);
    expect(b.count()).toBe(0);
  });
});
