/**
 * The pieces of the local-model path that need no server: the GGUF writer's
 * layout (read back by the spec, field by field), half floats, the tiny
 * model's file, OLLAMA_HOST's forms, and how a missing model is classified.
 * The real server reading these files is test/integration/local-model.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { loadConfig, REPO_ROOT } from '../../config/index.js';
import { classifyStatus } from '../../router/errors.js';
import { loadModelPolicy, parseModelPolicy } from '../../router/model-policy.js';
import { decideRoute } from '../../router/prepare.js';
import { str, toHalf, u32, writeGguf } from '../../scripts/lib/gguf.js';
import { ggufModelName } from '../../scripts/lib/dev-local-model.js';
import { ollamaBaseUrl } from '../../scripts/lib/ollama.js';
import { TINY_MODEL_TEMPLATE, tinyModelfile, tinyModelGguf } from '../../scripts/lib/tiny-model.js';

/** Reads a GGUF header and tensor table as the spec lays them out (independent of the writer). */
function readGguf(buf: Buffer) {
  let at = 0;
  const u32r = () => ((at += 4), buf.readUInt32LE(at - 4));
  const u64r = () => ((at += 8), Number(buf.readBigUInt64LE(at - 8)));
  const strr = () => {
    const n = u64r();
    at += n;
    return buf.toString('utf8', at - n, at);
  };
  const magic = buf.toString('latin1', 0, 4);
  at = 4;
  const version = u32r();
  const tensorCount = u64r();
  const kvCount = u64r();
  const kv: Record<string, unknown> = {};
  const scalar = (type: number): unknown => {
    switch (type) {
      case 4:
        return u32r();
      case 5:
        return ((at += 4), buf.readInt32LE(at - 4));
      case 6:
        return ((at += 4), buf.readFloatLE(at - 4));
      case 7:
        return ((at += 1), buf[at - 1] === 1);
      case 8:
        return strr();
      default:
        throw new Error(`type ${type}`);
    }
  };
  for (let i = 0; i < kvCount; i++) {
    const key = strr();
    const type = u32r();
    if (type === 9) {
      const of = u32r();
      const n = u64r();
      kv[key] = Array.from({ length: n }, () => scalar(of));
    } else kv[key] = scalar(type);
  }
  const tensors = Array.from({ length: tensorCount }, () => {
    const name = strr();
    const dims = Array.from({ length: u32r() }, u64r);
    return { name, dims, type: u32r(), offset: u64r() };
  });
  const alignment = (kv['general.alignment'] as number | undefined) ?? 32;
  const dataStart = Math.ceil(at / alignment) * alignment;
  return { magic, version, kv, tensors, dataStart };
}

describe('the GGUF writer', () => {
  it('writes header, metadata and aligned tensors as the spec reads them', () => {
    const a = new Float32Array([1, -2, 0.5]);
    const b = new Float32Array([1, 2, 3, 4, 5, 6]);
    const buf = writeGguf({ 'general.architecture': str('llama'), 'x.count': u32(7) }, [
      { name: 'a', dims: [3], type: 'F32', data: a },
      { name: 'b', dims: [3, 2], type: 'F16', data: b },
    ]);
    const g = readGguf(buf);
    expect(g).toMatchObject({ magic: 'GGUF', version: 3, kv: { 'general.architecture': 'llama', 'x.count': 7, 'general.alignment': 32 } });
    expect(g.tensors).toEqual([
      { name: 'a', dims: [3], type: 0, offset: 0 },
      { name: 'b', dims: [3, 2], type: 1, offset: 32 },
    ]);
    expect(g.dataStart % 32).toBe(0);
    expect([0, 1, 2].map((i) => buf.readFloatLE(g.dataStart + i * 4))).toEqual([1, -2, 0.5]);
    expect([0, 1, 5].map((i) => buf.readUInt16LE(g.dataStart + 32 + i * 2))).toEqual([0x3c00, 0x4000, 0x4600]);
    expect(buf.length % 32).toBe(0);
  });

  it('refuses a tensor whose data does not fill its dims', () => {
    expect(() => writeGguf({}, [{ name: 'w', dims: [2, 2], type: 'F32', data: new Float32Array(3) }])).toThrow(/w: dims 2x2 hold 4 values, data has 3/);
  });

  it('rounds half floats to nearest even, with subnormals, infinities and NaN', () => {
    expect([1, -2, 65504, 65520, 1e-8, 2 ** -24, 2 ** -14, Infinity, -Infinity, 0.1].map(toHalf)).toEqual([
      0x3c00, 0xc000, 0x7bff, 0x7c00, 0, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x2e66,
    ]);
    expect(toHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalf(NaN) & 0x3ff).not.toBe(0);
  });
});

describe('kortix-tiny', () => {
  it('is a Llama GGUF of a few MB, the same bytes every time, with a complete byte-fallback vocabulary', () => {
    const buf = tinyModelGguf();
    expect(buf.equals(tinyModelGguf())).toBe(true);
    expect(buf.length).toBeGreaterThan(1_000_000);
    expect(buf.length).toBeLessThan(8_000_000);
    const g = readGguf(buf);
    expect(g.kv).toMatchObject({ 'general.architecture': 'llama', 'tokenizer.ggml.model': 'llama', 'llama.embedding_length': 128, 'llama.block_count': 4 });
    const tokens = g.kv['tokenizer.ggml.tokens'] as string[];
    expect(tokens).toHaveLength(512);
    expect(new Set(tokens).size).toBe(512);
    for (let byte = 0; byte < 256; byte++) expect(tokens).toContain(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    expect((g.kv['tokenizer.ggml.scores'] as number[]).length).toBe(512);
    expect(g.tensors).toHaveLength(3 + 4 * 9);
    expect(g.tensors.find((t) => t.name === 'blk.0.attn_k.weight')?.dims).toEqual([128, 64]); // 2 KV heads of 32
    const end = Math.max(...g.tensors.map((t) => g.dataStart + t.offset));
    expect(end).toBeLessThan(buf.length);
  });

  it('has a Modelfile that names the file, the template and the parameters', () => {
    const text = tinyModelfile('/models/kortix-tiny.gguf');
    expect(text).toContain('FROM /models/kortix-tiny.gguf\n');
    expect(text).toContain(`TEMPLATE """${TINY_MODEL_TEMPLATE}"""`);
    expect(text).toContain('PARAMETER num_ctx 1024');
    expect(text).toContain('PARAMETER stop "<|user|>"');
    expect(TINY_MODEL_TEMPLATE).toContain('.Tools'); // else Ollama refuses requests that carry tools
  });
});

describe('OLLAMA_HOST', () => {
  it.each([
    ['127.0.0.1', 'http://127.0.0.1:11434'],
    ['127.0.0.1:4000', 'http://127.0.0.1:4000'],
    ['http://ollama:11434', 'http://ollama:11434'],
    ['https://models.example', 'https://models.example:11434'],
    ['[::1]:5000', 'http://[::1]:5000'],
  ])('%s is %s', (host, url) => {
    expect(ollamaBaseUrl(host)).toBe(url);
  });
});

describe('a missing model', () => {
  it.each([
    [404, '{"error":{"message":"model \\"qwen2.5:0.5b\\" not found, try pulling it first","type":"api_error"}}', 'model_missing'],
    [404, '{"error":{"message":"The model `gpt-5` does not exist or you do not have access to it.","code":"model_not_found"}}', 'model_missing'],
    [400, '{"object":"error","message":"The model `llama` does not exist.","code":404}', 'model_missing'],
    [404, '404 page not found', 'bad_request'],
    [400, "This model's maximum context length is 8192 tokens", 'context_window'],
    [500, 'model "x" not found', 'server_error'],
  ])('HTTP %i %s is %s', (status, body, cls) => {
    expect(classifyStatus(status, body)).toBe(cls);
  });

  it('has a fallback chain of its own in the policy', () => {
    const policy = parseModelPolicy({
      providers: { p: { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' } },
      models: { a: { provider: 'p', model: 'a' }, b: { provider: 'p', model: 'b' } },
      default: 'a',
      routes: [{ name: 'r', model: 'a', fallbacks: { model_missing: ['b'] } }],
    });
    expect(policy.routes[0]?.fallbacks.model_missing).toEqual(['b']);
    expect(() => parseModelPolicy({ default: 'mock', fallbacks: { model_missing: ['nope'] } })).toThrow(/fallbacks\.model_missing\.0: unknown model "nope"/);
  });
});

describe('the production policy (router/model_policy.prod.yaml)', () => {
  const policy = loadModelPolicy(resolve(REPO_ROOT, 'router/model_policy.prod.yaml'), { LOCAL_MODEL: 'qwen2.5:0.5b' });
  const decide = (content: string, extra: { requestType?: string; tools?: boolean; model?: string } = {}) =>
    decideRoute(
      {
        tenantId: 't',
        messages: [{ role: 'user', content }],
        ...(extra.requestType ? { requestType: extra.requestType } : {}),
        ...(extra.model ? { model: extra.model } : {}),
        ...(extra.tools ? { tools: [{ type: 'function', function: { name: 'shell', description: 'run', parameters: { type: 'object' } } }] } : {}),
      },
      policy,
    );

  it('serves LOCAL_MODEL on the local provider, and embeds locally', () => {
    expect(policy.models.local_llm).toMatchObject({ provider: 'local', model: 'qwen2.5:0.5b', inputPerMTok: 0, outputPerMTok: 0 });
    expect(loadModelPolicy(resolve(REPO_ROOT, 'router/model_policy.prod.yaml')).models.local_llm?.model).toBe('llama3.1:8b');
    expect(policy.embeddings?.model).toBe('local_embed');
    expect(policy.models.local_embed).toMatchObject({ provider: 'local', type: 'embedding' });
  });

  it('looks near duplicates up with the local embedding model, on the local classify/extract route only', () => {
    const opted = [policy.defaultRoute, ...policy.routes].filter((r) => r.semanticCache !== null);
    expect(opted.map((r) => [r.name, r.model, r.semanticCache?.embeddingModel, r.semanticCache?.threshold])).toEqual([['classify-extract-local', 'local_llm', 'local_embed', 0.95]]);
    // make dev's policy keeps the in-process embedder: no model server needed.
    const dev = loadModelPolicy(resolve(REPO_ROOT, 'router/model_policy.yaml'));
    expect(dev.routes.filter((r) => r.semanticCache !== null).map((r) => r.semanticCache?.embeddingModel)).toEqual(['hashed_embed']);
  });

  it('sends untyped and small requests local first, with the cloud behind every failure class; large and named ones to the cloud', () => {
    expect(decide('hello there')).toMatchObject({ model: 'local_llm', route: { name: 'default' } });
    expect(decide('list the files', { tools: true })).toMatchObject({ model: 'local_llm', tier: 'medium' }); // a session's step: untyped, with tools
    expect(decide('hi', { requestType: 'chat' })).toMatchObject({ model: 'local_llm', route: { name: 'small-local' } });
    expect(decide('write a threat model of this distributed system')).toMatchObject({ model: 'gpt_4o', tier: 'large' });
    expect(decide('hi', { model: 'claude_sonnet' }).model).toBe('claude_sonnet');
    expect(decide('hi', { requestType: 'high_cost' }).model).toBe('claude_sonnet');
    expect(policy.defaultRoute.fallbacks).toEqual({ rate_limit: ['openai'], timeout: ['openai'], server_error: ['openai'], context_window: ['openai'], model_missing: ['openai'] });
  });

  it('refuses a modelEnv that is no configuration variable, naming the path', () => {
    expect(() => parseModelPolicy({ default: 'm', models: { m: { provider: 'local', model: 'x', modelEnv: 'NOT_A_VARIABLE' } } })).toThrow(
      /models\.m\.modelEnv: NOT_A_VARIABLE is not a configuration variable/,
    );
  });
});

describe('LOCAL_MODEL naming a GGUF file (make dev)', () => {
  it('is a valid setting; a name with other characters, or a NUL, is not', () => {
    expect(loadConfig({ LOCAL_MODEL: '/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf' }).LOCAL_MODEL).toBe('/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf');
    expect(loadConfig({ LOCAL_MODEL: 'models/my model.GGUF' }).LOCAL_MODEL).toBe('models/my model.GGUF');
    expect(() => loadConfig({ LOCAL_MODEL: '/etc/passwd' })).toThrow(/LOCAL_MODEL/);
    expect(() => loadConfig({ LOCAL_MODEL: 'a\u0000b.gguf' })).toThrow(/LOCAL_MODEL/);
    expect(() => loadConfig({ LOCAL_MODEL: 'qwen 2.5' })).toThrow(/LOCAL_MODEL/);
  });

  it('names the model after the file, in the characters Ollama takes', () => {
    expect(ggufModelName('/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf')).toBe('qwen2.5-0.5b-instruct-q4_k_m');
    expect(ggufModelName('./my model (v2).GGUF')).toBe('my-model-v2');
    expect(ggufModelName('/x/---.gguf')).toBe('local-gguf');
    expect(ggufModelName('../Ünïcode 🦙.gguf')).toBe('n-code');
  });
});
