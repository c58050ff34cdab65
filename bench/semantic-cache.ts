/**
 * The semantic cache's numbers (`npm run bench -- --only=semantic-cache`), on
 * the labelled set bench/workloads/paraphrase-pairs.yaml, with the in-process
 * hashed embedder (router/hashed-embedder.ts: word and character n-gram
 * features, no model; the numbers are that embedder's, not a real embedding
 * model's):
 * - per pair, through the router (a tenant per pair, in-memory stores): is
 *   the second text answered from the first's answer? Hit rate on
 *   paraphrases, false hits on hard negatives, at the policy's default
 *   threshold, per kind;
 * - a threshold sweep of the same decision (similarity and the literal
 *   guard, router/semantic-key.ts), and the false hits without the guard;
 * - money: every text of the set asked once in one scope, then the first
 *   text of each pair again (exact repeats), priced at gpt-4o's rates, with
 *   no cache, the exact cache, and exact + semantic; false hits counted by
 *   which text's answer came back;
 * - a lookup's time with Postgres stores and a full candidate set.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { REPO_ROOT } from '../config/index.js';
import { postgresRouterStores } from '../db/llm-ledger.js';
import { hashedEmbedding } from '../router/hashed-embedder.js';
import { parseModelPolicy, SEMANTIC_DEFAULTS } from '../router/model-policy.js';
import { ModelRouter } from '../router/router.js';
import { cosine } from '../router/semantic-cache.js';
import { literalsOf } from '../router/semantic-key.js';
import { MemoryRouterStore, type RouterStores } from '../router/stores.js';
import { countTextTokens } from '../router/tokens.js';
import type { ChatMessage, ChatProvider } from '../router/types.js';
import { withDatabase } from './router.js';
import { percentiles } from './stats.js';

const WORKLOAD_FILE = resolve(REPO_ROOT, 'bench/workloads/paraphrase-pairs.yaml');
const pairSchema = z.object({ label: z.enum(['paraphrase', 'different']), kind: z.string(), a: z.string().min(1), b: z.string().min(1) }).strict();
type Pair = z.infer<typeof pairSchema>;

const SYSTEM: ChatMessage = { role: 'system', content: 'You are the operations assistant of a software team. Answer briefly.' };
/** The priced model: gpt-4o's list prices; each answer 150 output tokens. */
const PRICES = { inputPerMTok: 2.5, outputPerMTok: 10 };
const OUTPUT_TOKENS = 150;

/** A router whose one provider answers at once with the asked text in the answer (so a hit shows whose answer it was). */
function benchRouter(stores: RouterStores, semantic: boolean, exact = true): ModelRouter {
  const upstream: ChatProvider = {
    complete: async (request) => {
      const last = request.messages.at(-1);
      const prompt = request.messages.reduce((n, m) => n + countTextTokens(m.content ?? ''), 0);
      return { content: `answer to: ${last?.content ?? ''}`, toolCalls: [], finishReason: 'stop', usage: { inputTokens: prompt, outputTokens: OUTPUT_TOKENS, cachedInputTokens: 0 } };
    },
  };
  const policy = parseModelPolicy({
    providers: { stub: { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' } },
    models: { cloud: { provider: 'stub', model: 'gpt-4o', ...PRICES, contextWindow: 128_000, maxOutputTokens: 1024 } },
    default: 'cloud',
    cache: { enabled: exact, ttlSeconds: 3600 },
    routes: [{ name: 'ops', match: { requestType: ['ops'] }, model: 'cloud', temperature: 0, ...(semantic ? { semanticCache: {} } : {}) }],
    semanticCache: { embeddingModel: 'hashed_embed' },
  });
  return new ModelRouter({ policy, env: {}, timeoutMs: 10_000, stores, providers: { stub: upstream } });
}

const ask = (tenantId: string, content: string) => ({ tenantId, requestType: 'ops', messages: [SYSTEM, { role: 'user' as const, content }] });
const pct = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 1000) / 10);
const usd = (v: number) => Math.round(v * 1e6) / 1e6;

/** Texts labelled the same request: the paraphrase pairs' connected groups. */
function groups(pairs: readonly Pair[]): (text: string) => string {
  const parent = new Map<string, string>();
  const find = (t: string): string => {
    const p = parent.get(t) ?? t;
    if (p === t) return t;
    const root = find(p);
    parent.set(t, root);
    return root;
  };
  for (const p of pairs) if (p.label === 'paraphrase') parent.set(find(p.a), find(p.b));
  return find;
}

/** Per pair, a tenant each: is b answered from a's answer? */
async function perPair(pairs: readonly Pair[]) {
  const router = benchRouter(new MemoryRouterStore(), true);
  const results = [];
  for (const [i, p] of pairs.entries()) {
    await router.complete(ask(`pair-${i}`, p.a));
    const b = await router.complete(ask(`pair-${i}`, p.b));
    results.push({ ...p, hit: b.cacheHit, similarity: Math.round(cosine(hashedEmbedding(p.a), hashedEmbedding(p.b)) * 1e4) / 1e4, literalsEqual: literalsOf(p.a).join() === literalsOf(p.b).join() });
  }
  return results;
}

function sweep(results: Awaited<ReturnType<typeof perPair>>) {
  const positives = results.filter((r) => r.label === 'paraphrase');
  const negatives = results.filter((r) => r.label === 'different');
  return [0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98].map((threshold) => ({
    threshold,
    hitRatePct: pct(positives.filter((r) => r.literalsEqual && r.similarity >= threshold).length, positives.length),
    falseHits: negatives.filter((r) => r.literalsEqual && r.similarity >= threshold).length,
    falseHitsWithoutLiteralGuard: negatives.filter((r) => r.similarity >= threshold).length,
  }));
}

/** One tenant, one scope: every text once, then each pair's first text again; cost and hits per configuration. */
async function money(pairs: readonly Pair[]) {
  const sameRequest = groups(pairs);
  const texts = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const stream = [...texts, ...new Set(pairs.map((p) => p.a))];
  const run = async (label: string, semantic: boolean, exact: boolean) => {
    const store = new MemoryRouterStore();
    const router = benchRouter(store, semantic, exact);
    let falseHits = 0;
    for (const text of stream) {
      const answer = await router.complete(ask('bench', text));
      const source = (answer.content ?? '').replace(/^answer to: /, '');
      if (answer.cacheHit && source !== text && sameRequest(source) !== sameRequest(text)) falseHits++;
    }
    const chat = store.rows.filter((r) => r.kind === 'chat');
    const sum = (f: (r: (typeof chat)[number]) => number) => usd(chat.reduce((n, r) => n + f(r), 0));
    return {
      label,
      requests: chat.length,
      upstreamCalls: chat.filter((r) => r.outcome === 'ok').length,
      exactHits: chat.filter((r) => r.cacheHit && r.semanticCache !== 'hit').length,
      semanticHits: chat.filter((r) => r.semanticCache === 'hit').length,
      falseHits,
      costUsd: sum((r) => r.costUsd),
      savedUsd: sum((r) => r.savedUsd),
      embeddingCostUsd: usd(store.rows.filter((r) => r.kind === 'embedding').reduce((n, r) => n + r.costUsd, 0)),
    };
  };
  const none = await run('no cache', false, false);
  const exact = await run('exact cache', false, true);
  const both = await run('exact + semantic', true, true);
  return { requests: stream.length, runs: [none, exact, both], savedVsNoCachePct: { exact: pct(none.costUsd - exact.costUsd, none.costUsd), exactPlusSemantic: pct(none.costUsd - both.costUsd, none.costUsd) } };
}

/** A miss's lookup time with Postgres stores: embed, read `candidates` rows of the scope, compare (latency minus upstream). */
async function postgresLookup(candidates: number, samples: number) {
  return withDatabase(async (db) => {
    const router = benchRouter(postgresRouterStores(db), true);
    const plain = benchRouter(postgresRouterStores(db), false);
    for (let i = 0; i < candidates; i++) await router.complete(ask('fill', `distinct question number ${i} about the deploy`));
    const measure = async (r: ModelRouter, tenant: string) => {
      const out: number[] = [];
      for (let i = 0; i < samples; i++) {
        const a = await r.complete(ask(tenant, `another question ${i} about the deploy`));
        out.push(a.latencyMs - a.upstreamMs);
      }
      return percentiles(out);
    };
    // The semantic run reads the full candidate set of `fill`; each of its misses also stores one more row.
    const routerMsWithSemantic = await measure(router, 'fill');
    const routerMsWithoutSemantic = await measure(plain, 'fill-plain');
    // The machine is shared: its 1-minute load average says how much of the time is queueing.
    return { candidates, routerMsWithSemantic, routerMsWithoutSemantic, loadAverage1m: Math.round(loadavg()[0] ?? 0) };
  });
}

export async function benchSemanticCache() {
  const pairs = z.object({ pairs: z.array(pairSchema).min(1) }).parse(parse(readFileSync(WORKLOAD_FILE, 'utf8'))).pairs;
  const results = await perPair(pairs);
  const positives = results.filter((r) => r.label === 'paraphrase');
  const negatives = results.filter((r) => r.label === 'different');
  const kinds = [...new Set(results.map((r) => `${r.label}/${r.kind}`))].map((k) => {
    const rs = results.filter((r) => `${r.label}/${r.kind}` === k);
    return { kind: k, pairs: rs.length, hits: rs.filter((r) => r.hit).length };
  });
  return {
    embedder: 'hashed_embed (in process: hashed word + character 3-5-gram features, 512 dims); production: a real embedding model, e.g. nomic-embed-text served by Ollama',
    threshold: SEMANTIC_DEFAULTS.threshold,
    labelled: {
      paraphrasePairs: positives.length,
      differentPairs: negatives.length,
      hitRatePct: pct(positives.filter((r) => r.hit).length, positives.length),
      falseHits: negatives.filter((r) => r.hit).length,
      falseHitPairs: negatives.filter((r) => r.hit).map((r) => [r.a, r.b]),
      byKind: kinds,
    },
    sweep: sweep(results),
    money: await money(pairs),
    postgres: await postgresLookup(SEMANTIC_DEFAULTS.maxCandidates, 200),
    pairs: results,
  };
}
