/**
 * The local engine's numbers (`npm run bench -- --only=local-model`), on a
 * real Ollama (scripts/provision/ollama.sh) serving kortix-tiny (a random-
 * weight 2 MB Llama, scripts/lib/tiny-model.ts). They are a floor for the
 * engine on this machine, not a quality figure:
 * - router overhead with the local provider: the same request through the
 *   router and as a direct HTTP call to Ollama's OpenAI-compatible API,
 *   interleaved, so both see the same machine;
 * - first token latency (streamed) and generation tokens/s (Ollama's own
 *   eval_count / eval_duration);
 * - resident memory of `ollama serve` and its runner with the model loaded;
 * - what one semantic-cache lookup's embedding costs in time when the local
 *   server embeds (router/model_policy.prod.yaml's local_embed does): a
 *   short question embedded through the router (its batcher, its ledger);
 * - cost of the reference workload (bench/workloads/router-reference.yaml)
 *   under the production policy (router/model_policy.prod.yaml, local first)
 *   with the small tier on the real local server, against the same routing
 *   with the small tier sent to the cloud (gpt-4o-mini), and against the cloud
 *   model always; the cloud answers are fake servers that bill each prompt's
 *   tokenizer count and the labelled answer length.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO_ROOT, Secret } from '../config/index.js';
import { loadModelPolicy, parseModelPolicy, type ModelConfig } from '../router/model-policy.js';
import { ModelRouter } from '../router/router.js';
import { MemoryRouterStore } from '../router/stores.js';
import { countTextTokens, estimatePromptTokens } from '../router/tokens.js';
import type { ChatMessage } from '../router/types.js';
import { createTinyModel, startOllama, type OllamaServer } from '../scripts/lib/ollama.js';
import { TINY_MODEL_SHAPE } from '../scripts/lib/tiny-model.js';
import { startFakeAnthropic } from '../test/support/fake-anthropic.js';
import { startFakeOpenAi } from '../test/support/fake-openai.js';
import { referenceWorkload } from './router.js';
import { percentiles } from './stats.js';

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The same chat request through the router and straight to Ollama, alternating. */
async function overhead(server: OllamaServer, model: string, calls: number) {
  const policy = parseModelPolicy({
    providers: { ollama: { kind: 'openai-compatible', baseUrl: server.openAiUrl } },
    models: { tiny: { provider: 'ollama', model, contextWindow: 1024, maxOutputTokens: 8 } },
    default: 'tiny',
    cache: { enabled: false },
    mergeInFlight: false,
  });
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 120_000, stores: new MemoryRouterStore() });
  const messages: ChatMessage[] = [{ role: 'user', content: 'Name three colours of the sea at dawn.' }];
  const direct = async () => {
    const t0 = performance.now();
    const res = await fetch(`${server.openAiUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages, max_tokens: 8 }),
    });
    await res.json();
    return performance.now() - t0;
  };
  const viaRouter: number[] = [];
  const straight: number[] = [];
  const inRouter: number[] = [];
  for (let i = 0; i < calls + 3; i++) {
    const d = await direct();
    const answer = await router.complete({ tenantId: 'bench', messages });
    if (i < 3) continue; // warm-up: the model is loaded, sockets are open
    straight.push(d);
    viaRouter.push(answer.latencyMs);
    inRouter.push(answer.latencyMs - answer.upstreamMs);
  }
  const r = percentiles(viaRouter.map((v) => round(v, 3)));
  const s = percentiles(straight.map((v) => round(v, 3)));
  return {
    note: 'max_tokens 8, same prompt, alternating; router: in-memory stores, no cache',
    routerCallMs: r,
    directHttpMs: s,
    routerOverP50Ms: round(r.p50 - s.p50),
    routerOverP50Pct: round(((r.p50 - s.p50) / s.p50) * 100, 1),
    timeInRouterMs: percentiles(inRouter.map((v) => round(v, 3))),
  };
}

/** First streamed content delta, and Ollama's own generation speed. */
async function speed(server: OllamaServer, model: string, runs: number) {
  const firstToken: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const res = await fetch(`${server.openAiUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `Tell me about the number ${i}.` }], max_tokens: 16, stream: true }),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let seen = false;
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      if (!seen && /"content":"[^"]/.test(buffer)) {
        firstToken.push(performance.now() - t0);
        seen = true;
      }
    }
  }
  const tokensPerSecond: number[] = [];
  const promptTokensPerSecond: number[] = [];
  for (let i = 0; i < runs; i++) {
    const res = await fetch(`${server.url}/api/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: `Write a long story, part ${i}.`, stream: false, options: { num_predict: 128 } }),
    });
    const r = (await res.json()) as { eval_count?: number; eval_duration?: number; prompt_eval_count?: number; prompt_eval_duration?: number };
    if (r.eval_count && r.eval_duration) tokensPerSecond.push(r.eval_count / (r.eval_duration / 1e9));
    if (r.prompt_eval_count && r.prompt_eval_duration) promptTokensPerSecond.push(r.prompt_eval_count / (r.prompt_eval_duration / 1e9));
  }
  return {
    firstTokenMs: percentiles(firstToken.map((v) => round(v))),
    generationTokensPerSecond: percentiles(tokensPerSecond.map((v) => round(v, 1))),
    promptTokensPerSecond: percentiles(promptTokensPerSecond.map((v) => round(v, 1))),
  };
}

/** One lookup's embedding through the router, on the local server (the semantic cache's added time per cacheable request). */
async function lookupEmbedding(server: OllamaServer, model: string, runs: number) {
  const policy = parseModelPolicy({
    providers: { ollama: { kind: 'openai-compatible', baseUrl: server.openAiUrl } },
    models: { tiny: { provider: 'ollama', model, contextWindow: 1024, maxOutputTokens: 8 }, tiny_embed: { provider: 'ollama', model, type: 'embedding', contextWindow: 1024 } },
    default: 'tiny',
    embeddings: { model: 'tiny_embed' },
  });
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 120_000, stores: new MemoryRouterStore() });
  const ms: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    await router.embed({ tenantId: 'bench', input: `How do I rotate the API keys of cluster ${i}?`, requestType: 'semantic_cache' });
    if (i >= 3) ms.push(performance.now() - t0);
  }
  return { note: 'one short question per call, through router.embed (batch window 5 ms)', embedMs: percentiles(ms.map((v) => round(v))) };
}

/** VmRSS of a process and of its descendants (Ollama runs the model in a `runner` child), in MB. */
function residentMb(pid: number) {
  const rss = (p: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const children = (p: number): number[] =>
    readdirSync(`/proc/${p}/task`).flatMap((t) => {
      try {
        return readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  const all: number[] = [];
  const walk = (p: number) => {
    for (const c of children(p)) {
      all.push(c);
      walk(c);
    }
  };
  walk(pid);
  const runners = all.map((p) => ({ pid: p, cmd: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').slice(1, 2).join(' '), rssMb: round(rss(p), 1) }));
  const serve = round(rss(pid), 1);
  return { serveMb: serve, children: runners, totalMb: round(serve + runners.reduce((s, r) => s + r.rssMb, 0), 1) };
}

/** The reference workload under the production policy: small tier local (real Ollama) vs the same routing on the cloud. */
async function workloadCost(server: OllamaServer, model: string) {
  const { spec, requests } = referenceWorkload();
  const outputFor = new Map(requests.map((r) => [r.text, r.outputTokens]));
  const lastUser = (messages: { role?: string; content?: unknown }[]) => {
    const content = messages.findLast((m) => m.role === 'user')?.content;
    return Array.isArray(content) ? content.map((b: { text?: string }) => b.text ?? '').join('') : String(content ?? '');
  };
  const responder = (req: { body: Record<string, unknown> }) => {
    const messages = req.body.messages as ChatMessage[];
    return { content: 'answer', usage: { prompt_tokens: estimatePromptTokens(messages), completion_tokens: outputFor.get(lastUser(messages)) ?? 10 } };
  };
  const [openai, anthropic] = await Promise.all([startFakeOpenAi(responder), startFakeAnthropic('sk-ant-bench')]);
  anthropic.respond((req) => {
    const text = lastUser((req.body.messages ?? []) as { role?: string; content?: unknown }[]);
    return { text: 'answer', usage: { input_tokens: countTextTokens(String(req.body.system ?? '')) + countTextTokens(text) + 7, output_tokens: outputFor.get(text) ?? 10 } };
  });
  try {
    const env = {
      LOCAL_LLM_URL: server.openAiUrl,
      LOCAL_MODEL: model,
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: new Secret('sk-bench'),
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_API_KEY: new Secret('sk-ant-bench'),
    };
    const policy = loadModelPolicy(resolve(REPO_ROOT, 'router/model_policy.prod.yaml'), env);
    const router = new ModelRouter({ policy, env, timeoutMs: 120_000, stores: new MemoryRouterStore() });
    let localUsd = 0;
    let smallOnCloudUsd = 0;
    let cloudAlwaysUsd = 0;
    let localCalls = 0;
    let localOutputTokens = 0;
    for (const r of requests) {
      const messages: ChatMessage[] = [{ role: 'user', content: r.text }];
      // The labelled answer length caps every model alike (the tiny model would otherwise talk to max_tokens).
      const ask = { tenantId: 'bench-local', requestType: r.type, messages, maxOutputTokens: r.outputTokens };
      const routed = await router.complete(ask);
      localUsd += routed.costUsd;
      if (routed.provider === 'local') {
        localCalls++;
        localOutputTokens += routed.usage.outputTokens;
        smallOnCloudUsd += (await router.complete({ ...ask, tenantId: 'bench-small-cloud', model: 'openai' })).costUsd;
      } else smallOnCloudUsd += routed.costUsd;
      cloudAlwaysUsd += (await router.complete({ ...ask, tenantId: 'bench-cloud', model: spec.cloudModel })).costUsd;
    }
    const usd = (v: number) => round(v, 6);
    return {
      requests: requests.length,
      policy: 'router/model_policy.prod.yaml',
      servedLocally: localCalls,
      localOutputTokens,
      withLocalUsd: usd(localUsd),
      smallTierOnCloudUsd: usd(smallOnCloudUsd),
      cloudAlwaysUsd: usd(cloudAlwaysUsd),
      cloudModel: `${spec.cloudModel} (${(policy.models[spec.cloudModel] as ModelConfig).model})`,
      savedBySmallTierLocalUsd: usd(smallOnCloudUsd - localUsd),
      savedBySmallTierLocalPct: round((1 - localUsd / smallOnCloudUsd) * 100, 1),
      savedVsCloudAlwaysPct: round((1 - localUsd / cloudAlwaysUsd) * 100, 1),
    };
  } finally {
    await Promise.all([openai.close(), anthropic.close()]);
  }
}

export async function benchLocalModel() {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-bench-ollama-'));
  const server = await startOllama({ modelsDir: join(dir, 'models'), logFile: join(dir, 'ollama.log') });
  try {
    const model = await createTinyModel(server.url);
    const overheadResult = await overhead(server, model, 40);
    const speedResult = await speed(server, model, 10);
    const memory = server.pid === undefined ? null : residentMb(server.pid);
    const semanticLookup = await lookupEmbedding(server, model, 30);
    const cost = await workloadCost(server, model);
    return { model: { name: model, shape: TINY_MODEL_SHAPE, weights: 'random, F16 matrices' }, overhead: overheadResult, ...speedResult, residentMemory: memory, semanticLookup, workload: cost };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
