/** Fixtures and assertions shared by the router's tests. */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { LlmError } from '../../router/errors.js';
import { parseModelPolicy, type ResolvedModelPolicy } from '../../router/model-policy.js';
import { startFakeOpenAi, type FakeOpenAi } from './fake-openai.js';

/** A fake OpenAI server for the test file (handed to `set` once started): reset after each test, closed at the end. */
export function useFakeOpenAi(set: (fake: FakeOpenAi) => void): void {
  let fake: FakeOpenAi | undefined;
  beforeAll(async () => set((fake = await startFakeOpenAi())));
  afterAll(async () => fake?.close());
  afterEach(() => {
    fake?.reset();
    fake?.respond(() => ({}));
  });
}

/** The LlmError a promise rejects with (fails the test if it resolves or throws something else). */
export async function llmError(promise: Promise<unknown>): Promise<LlmError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(LlmError);
  return error as LlmError;
}

/**
 * A policy on one OpenAI-compatible server at `baseUrl`: `priced` reserves
 * exactly $1 a call (no input price, max_tokens 1000 at $1000/MTok) and costs
 * $0.01 when the fake answers its default 10 output tokens; `free` is a
 * zero-price local model. `extra` adds or replaces top-level sections.
 */
export function pricedPolicy(baseUrl: string, extra: Record<string, unknown> = {}): ResolvedModelPolicy {
  return parseModelPolicy({
    providers: { p: { kind: 'openai-compatible', baseUrl } },
    models: {
      priced: { provider: 'p', model: 'big-model', inputPerMTok: 0, outputPerMTok: 1000, maxOutputTokens: 1000, contextWindow: 100_000 },
      free: { provider: 'p', model: 'local-model', contextWindow: 100_000 },
    },
    default: 'priced',
    ...extra,
  });
}
