/**
 * The model router's numbers (`npm run bench -- --only=router`):
 * - overhead per call in process: a call's latency minus the time inside the
 *   upstream call (decision, token estimate, budget reservation, ledger row,
 *   metrics), on an agent transcript, with in-memory stores and with Postgres;
 * - cache-hit latency with Postgres (the whole call: lookup + ledger row);
 * - the cost of the reference workload (bench/workloads/router-reference.yaml)
 *   routed by router/model_policy.yaml vs sent to the cloud model always,
 *   against fake OpenAI and Anthropic servers that bill the tokenizer's count
 *   of each prompt and the labelled answer length; and whether any request
 *   went to a model below its labelled tier.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { z } from 'zod';
import { REPO_ROOT, Secret } from '../config/index.js';
import { createDb, type Db } from '../db/client.js';
import { postgresRouterStores } from '../db/llm-ledger.js';
import { migrateToLatest } from '../db/migrate.js';
import { createMetrics } from '../observability/metrics.js';
import { loadModelPolicy, parseModelPolicy, tierRank, TIERS, type ModelConfig } from '../router/model-policy.js';
import { ModelRouter } from '../router/router.js';
import { MemoryRouterStore, type RouterStores } from '../router/stores.js';
import { countTextTokens, estimatePromptTokens } from '../router/tokens.js';
import type { ChatMessage, ChatProvider } from '../router/types.js';
import { toolDefinitions } from '../sandbox/tools.js';
import { provision } from '../scripts/lib/provision.js';
import { startFakeAnthropic } from '../test/support/fake-anthropic.js';
import { startFakeOpenAi } from '../test/support/fake-openai.js';
import { percentiles, type Summary } from './stats.js';

const WORKLOAD_FILE = resolve(REPO_ROOT, 'bench/workloads/router-reference.yaml');

const workloadSchema = z.object({
  cloudModel: z.string(),
  requests: z.array(
    z
      .object({
        id: z.string(),
        type: z.string(),
        tier: z.enum(TIERS),
        outputTokens: z.number().int().positive(),
        prompt: z.string(),
        documentWords: z.number().int().positive().optional(),
      })
      .strict(),
  ),
});

const WORDS =
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there one all we their been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(
    ' ',
  );

/** A deterministic document of `n` words (a long input to summarise or review). */
function document(n: number, seed: number): string {
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(WORDS[x % WORDS.length] as string);
    if (i % 17 === 16) out.push('.\n');
  }
  return out.join(' ');
}

/** An agent's transcript after `steps` tool calls (the prompt of a typical session step). */
function agentTranscript(steps: number): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: `You are a careful coding agent working in a sandbox. ${document(250, 1)}` },
    { role: 'user', content: 'The tests of the billing service fail since yesterday; find out why and fix it.' },
  ];
  for (let i = 0; i < steps; i++) {
    messages.push({ role: 'assistant', content: null, tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'shell', arguments: `{"command":"npm test -- billing ${i}"}` } }] });
    messages.push({ role: 'tool', tool_call_id: `call_${i}`, content: `{"ok":true,"stdout":${JSON.stringify(document(180, i + 2))}}` });
  }
  return messages;
}

const STUB_ANSWER = { content: 'ok', toolCalls: [], finishReason: 'stop', usage: { inputTokens: 3000, outputTokens: 20, cachedInputTokens: 0 } };

/** A router whose one provider answers at once, in process: what remains of a call's time is the router's. */
function stubRouter(stores: RouterStores | MemoryRouterStore): ModelRouter {
  const stub: ChatProvider = { complete: async () => STUB_ANSWER };
  const policy = parseModelPolicy({
    providers: { stub: { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' } },
    models: { cloud: { provider: 'stub', model: 'cloud', inputPerMTok: 2.5, outputPerMTok: 10, contextWindow: 128_000, maxOutputTokens: 1024 } },
    default: 'cloud',
    routes: [
      { name: 'agent', match: { requestType: ['agent'] }, model: 'cloud' },
      { name: 'cached', match: { requestType: ['classify'] }, model: 'cloud', temperature: 0 },
    ],
    budgets: { default: { dailyUsd: 1_000_000, monthlyUsd: 10_000_000 } },
  });
  return new ModelRouter({ policy, env: {}, timeoutMs: 10_000, stores, providers: { stub }, metrics: createMetrics({ service: 'bench', defaultMetrics: false }) });
}

/** Router overhead per call: latency minus upstream time, on a growing agent transcript. */
async function overhead(router: ModelRouter, calls: number, warmup: number): Promise<Summary & { promptTokens: number }> {
  const transcript = agentTranscript(8);
  const tools = toolDefinitions(['list_files', 'read_file', 'shell', 'write_file']);
  const samples: number[] = [];
  let promptTokens = 0;
  for (let i = 0; i < warmup + calls; i++) {
    // A new last message each call, as each step of a session: no cache, no merge; older messages repeat.
    const messages: ChatMessage[] = [...transcript, { role: 'user', content: `continue with step ${i}` }];
    const answer = await router.complete({ tenantId: 'bench', sessionId: 'ses_bench', requestType: 'agent', messages, tools });
    if (i >= warmup) samples.push(answer.latencyMs - answer.upstreamMs);
    promptTokens = answer.promptTokens;
  }
  return { ...percentiles(samples.map((v) => Math.round(v * 1000) / 1000)), promptTokens };
}

/** Latency of a cache hit with Postgres: the whole call. */
async function cacheHits(router: ModelRouter, calls: number): Promise<Summary> {
  const messages: ChatMessage[] = [{ role: 'user', content: 'Is this message spam? "Claim your free prize now"' }];
  await router.complete({ tenantId: 'bench-cache', requestType: 'classify', messages });
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const answer = await router.complete({ tenantId: 'bench-cache', requestType: 'classify', messages });
    if (!answer.cacheHit) throw new Error('expected a cache hit');
    samples.push(answer.latencyMs);
  }
  return percentiles(samples.map((v) => Math.round(v * 1000) / 1000));
}

export interface WorkloadItemResult {
  id: string;
  type: string;
  label: string;
  estimatedTier: string;
  model: string;
  modelTier: string;
  routedUsd: number;
  cloudUsd: number;
}

/** The reference workload: each request with its whole text (prompt, then its document if any). */
export function referenceWorkload() {
  const spec = workloadSchema.parse(parse(readFileSync(WORKLOAD_FILE, 'utf8')));
  const requests = spec.requests.map((r, i) => ({ ...r, text: r.documentWords ? `${r.prompt}\n\n${document(r.documentWords, 100 + i)}` : r.prompt }));
  return { spec, requests };
}

/** The reference workload through the shipped policy and through the cloud model, on fake providers. */
async function workload() {
  const { spec, requests } = referenceWorkload();
  const byPrompt = new Map(requests.map((r) => [r.text, r]));
  const outputFor = (text: string) => byPrompt.get(text)?.outputTokens ?? 10;
  const lastUser = (messages: { role?: string; content?: unknown }[]) => {
    const content = messages.findLast((m) => m.role === 'user')?.content;
    // Anthropic content is a list of blocks.
    return Array.isArray(content) ? content.map((b: { text?: string }) => b.text ?? '').join('') : String(content ?? '');
  };
  const openAiResponder = (req: { body: Record<string, unknown> }) => {
    const messages = req.body.messages as ChatMessage[];
    return { content: 'answer', usage: { prompt_tokens: estimatePromptTokens(messages), completion_tokens: outputFor(lastUser(messages)) } };
  };
  const [local, openai, anthropic] = await Promise.all([startFakeOpenAi(openAiResponder), startFakeOpenAi(openAiResponder), startFakeAnthropic('sk-ant-bench')]);
  anthropic.respond((req) => {
    const text = lastUser((req.body.messages ?? []) as { role?: string; content?: unknown }[]);
    return { text: 'answer', usage: { input_tokens: countTextTokens(String(req.body.system ?? '')) + countTextTokens(text) + 7, output_tokens: outputFor(text) } };
  });
  try {
    const policy = loadModelPolicy(resolve(REPO_ROOT, 'router/model_policy.yaml'));
    const env = {
      LOCAL_LLM_URL: local.url,
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: new Secret('sk-bench'),
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_API_KEY: new Secret('sk-ant-bench'),
    };
    const router = new ModelRouter({ policy, env, timeoutMs: 10_000, stores: new MemoryRouterStore() });
    const cloud = policy.models[spec.cloudModel] as ModelConfig;
    const items: WorkloadItemResult[] = [];
    for (const [text, item] of byPrompt) {
      const messages: ChatMessage[] = [{ role: 'user', content: text }];
      const routed = await router.complete({ tenantId: 'bench-routed', requestType: item.type, messages });
      const always = await router.complete({ tenantId: 'bench-cloud', requestType: item.type, model: spec.cloudModel, messages });
      const model = policy.models[routed.model] as ModelConfig;
      items.push({ id: item.id, type: item.type, label: item.tier, estimatedTier: routed.tier, model: routed.model, modelTier: model.tier, routedUsd: routed.costUsd, cloudUsd: always.costUsd });
    }
    const sum = (f: (i: WorkloadItemResult) => number) => Math.round(items.reduce((s, i) => s + f(i), 0) * 1e6) / 1e6;
    const routedUsd = sum((i) => i.routedUsd);
    const cloudUsd = sum((i) => i.cloudUsd);
    const count = (pred: (i: WorkloadItemResult) => boolean) => items.filter(pred).length;
    return {
      requests: items.length,
      cloudModel: `${spec.cloudModel} (${cloud.model})`,
      routedUsd,
      cloudUsd,
      savingPct: Math.round((1 - routedUsd / cloudUsd) * 1000) / 10,
      belowTier: count((i) => tierRank(i.modelTier as (typeof TIERS)[number]) < tierRank(i.label as (typeof TIERS)[number])),
      aboveTier: count((i) => tierRank(i.modelTier as (typeof TIERS)[number]) > tierRank(i.label as (typeof TIERS)[number])),
      byModel: Object.fromEntries([...new Set(items.map((i) => i.model))].map((m) => [m, count((i) => i.model === m)])),
      byLabel: Object.fromEntries(
        TIERS.map((t) => {
          const of = items.filter((i) => i.label === t);
          const usd = (f: (i: WorkloadItemResult) => number) => Math.round(of.reduce((n, i) => n + f(i), 0) * 1e6) / 1e6;
          return [t, { requests: of.length, routedUsd: usd((i) => i.routedUsd), cloudUsd: usd((i) => i.cloudUsd) }];
        }),
      ),
      upstreamCalls: { local: local.count(), openai: openai.count(), anthropic: anthropic.requests.length },
      items,
    };
  } finally {
    await Promise.all([local.close(), openai.close(), anthropic.close()]);
  }
}

/** A fresh, migrated database on the provisioned Postgres, dropped afterwards. */
export async function withDatabase<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const vars = await provision('postgres', ['start']);
  const adminUrl = vars.DATABASE_URL as string;
  const name = `kortix_bench_router_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = createDb({ url: url.toString() });
  try {
    await migrateToLatest(db);
    return await fn(db);
  } finally {
    await db.destroy();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

export async function benchRouter() {
  const inMemory = await overhead(stubRouter(new MemoryRouterStore()), 3_000, 500);
  const { withPostgres, cacheHit } = await withDatabase(async (db) => ({
    withPostgres: await overhead(stubRouter(postgresRouterStores(db)), 1_000, 200),
    cacheHit: await cacheHits(stubRouter(postgresRouterStores(db)), 1_000),
  }));
  return {
    overheadMs: {
      note: 'latency minus upstream time per call, agent transcript (8 tool steps + tools), priced model with a budget',
      inMemoryStores: inMemory,
      postgresStores: withPostgres,
    },
    cacheHitMs: cacheHit,
    workload: await workload(),
  };
}
