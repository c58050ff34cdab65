/**
 * The order in which one request's fallback chain tries its models, seen by a
 * fake OpenAI server that answers per model: a deployment that goes into
 * cooldown part-way through the chain is skipped by the later models on it,
 * the budget's downgrade is tried before the fallbacks already queued, and no
 * model is tried twice in one request.
 */
import { describe, expect, it } from 'vitest';
import { parseModelPolicy } from '../../router/model-policy.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { MemoryRouterStore } from '../../router/stores.js';
import type { FakeOpenAi, FakeReply } from '../support/fake-openai.js';
import { useFakeOpenAi } from '../support/router-fixtures.js';

let fake: FakeOpenAi;
useFakeOpenAi((f) => (fake = f));

const fail500: FakeReply = { status: 500, body: { error: { message: 'boom' } } };

/**
 * Two providers on the one fake server, so deployments differ by provider:
 * `mb` and `mb_alias` share the deployment b/model-b; `priced` reserves $1 a
 * call (see pricedPolicy), every other model is free. `failing` lists the
 * replies each provider model gets before the fake's echo.
 */
function setup(failing: Record<string, FakeReply[]>, extra: Record<string, unknown> = {}) {
  fake.respond((r) => failing[r.body.model as string]?.shift() ?? {});
  const providers = { a: { kind: 'openai-compatible', baseUrl: fake.url }, b: { kind: 'openai-compatible', baseUrl: fake.url } };
  const policy = parseModelPolicy({
    providers,
    models: {
      ma: { provider: 'a', model: 'model-a' },
      mb: { provider: 'b', model: 'model-b' },
      mb_alias: { provider: 'b', model: 'model-b' },
      mc: { provider: 'a', model: 'model-c' },
      priced: { provider: 'b', model: 'big-model', inputPerMTok: 0, outputPerMTok: 1000, maxOutputTokens: 1000 },
      cheap: { provider: 'a', model: 'small-model' },
    },
    default: 'ma',
    routes: [
      { name: 'shared', match: { requestType: ['shared'] }, model: 'ma', fallbacks: { server_error: ['mb', 'mb_alias', 'mc'] } },
      { name: 'budgeted', match: { requestType: ['budgeted'] }, model: 'ma', fallbacks: { server_error: ['priced', 'mc'] } },
    ],
    retries: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 50, retryOn: ['server_error'] },
    cooldown: { failures: 2, windowSeconds: 60, cooldownSeconds: 30 },
    ...extra,
  });
  const clock = { now: Date.parse('2026-03-10T12:00:00Z') };
  const store = new MemoryRouterStore(() => clock.now);
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: store, now: () => clock.now });
  return { router, store };
}

const ask = (requestType: string, content = 'hi'): RouteRequest => ({ tenantId: 't', sessionId: 's', requestType, messages: [{ role: 'user', content }] });
const sent = () => fake.requests.map((r) => r.body.model);

describe('the order of a fallback chain', () => {
  it('skips a later model whose deployment went into cooldown earlier in the same chain', async () => {
    // model-a and model-b each fail twice (the call and its retry): both deployments cool down.
    const { router, store } = setup({ 'model-a': [fail500, fail500], 'model-b': [fail500, fail500] });
    const answer = await router.complete(ask('shared'));
    // mb_alias is never sent: its deployment cooled down while mb was tried.
    expect(sent()).toEqual(['model-a', 'model-a', 'model-b', 'model-b', 'model-c']);
    expect(answer).toMatchObject({ model: 'mc', fallbackUsed: true, attempts: 5, downgradedFrom: null });
    expect(store.rows.map((r) => [r.model, r.outcome, r.attempts, r.fallbackUsed])).toEqual([['mc', 'ok', 5, true]]);

    // The next request skips both cooling deployments without a request.
    const next = await router.complete(ask('shared', 'again'));
    expect(sent()).toEqual(['model-a', 'model-a', 'model-b', 'model-b', 'model-c', 'model-c']);
    expect(next).toMatchObject({ model: 'mc', fallbackUsed: true, attempts: 1 });
  });

  it("tries the budget's downgrade before the fallbacks already queued, then goes on with them", async () => {
    const budgets = { default: { dailyUsd: 0.5, onExceeded: { action: 'downgrade', model: 'cheap' } } };
    const { router, store } = setup({ 'model-a': [fail500, fail500], 'small-model': [fail500, fail500] }, { budgets });
    const answer = await router.complete(ask('budgeted'));
    // priced is refused (it reserves $1 of $0.50) and never sent; cheap goes ahead of mc; cheap's
    // failure queues priced again, which the chain has already had.
    expect(sent()).toEqual(['model-a', 'model-a', 'small-model', 'small-model', 'model-c']);
    expect(answer).toMatchObject({ model: 'mc', fallbackUsed: true, downgradedFrom: 'priced', attempts: 5 });
    expect(store.rows.map((r) => [r.model, r.outcome, r.downgradedFrom])).toEqual([['mc', 'ok', 'priced']]);
  });

  it('answers from the downgrade without counting it as a fallback', async () => {
    const budgets = { default: { dailyUsd: 0.5, onExceeded: { action: 'downgrade', model: 'cheap' } } };
    const { router } = setup({ 'model-a': [fail500, fail500] }, { budgets });
    const answer = await router.complete(ask('budgeted'));
    expect(sent()).toEqual(['model-a', 'model-a', 'small-model']);
    expect(answer).toMatchObject({ model: 'cheap', fallbackUsed: false, downgradedFrom: 'priced', attempts: 3 });
  });
});
