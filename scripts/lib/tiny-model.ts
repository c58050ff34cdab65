/**
 * kortix-tiny: a random-weight Llama model (about 2 MB) written here, since no
 * weights can be downloaded on these machines. Its answers are noise; what it
 * gives the tests and benchmarks is the real path: a real inference server
 * (Ollama's llama.cpp runner) tokenizing, running a transformer, sampling,
 * streaming and counting tokens, and embedding with the same model.
 *
 * Why GGUF written by us rather than safetensors for `ollama create` to
 * convert: GGUF is what the server loads, so nothing between our bytes and
 * the runner can change them, and it works against any Ollama (a user's own
 * included, over HTTP: a blob upload and /api/create) with no converter. The
 * tokenizer is SentencePiece-style (`llama`) with all 256 byte tokens, so any
 * UTF-8 text tokenizes (byte fallback) without a merges table.
 */
import { createHash } from 'node:crypto';
import { bool, f32, type GgufTensor, type GgufValue, str, u32, writeGguf } from './gguf.js';

export const TINY_MODEL_NAME = 'kortix-tiny';

/** Hyperparameters: small enough to answer in milliseconds on one core, big enough to be a real transformer. */
export const TINY_MODEL_SHAPE = { vocab: 512, embd: 128, layers: 4, heads: 4, kvHeads: 2, ff: 384, context: 2048 } as const;

/** A chat template (Go text/template, as Ollama renders it) naming .Tools, so that requests with tools are accepted. */
export const TINY_MODEL_TEMPLATE = `{{- if .Tools }}<|tools|>
{{ range .Tools }}{{ json . }}
{{ end }}{{ end }}
{{- range .Messages }}<|{{ .Role }}|>
{{ .Content }}
{{ end }}<|assistant|>
`;

/** Modelfile parameters: a short answer by default (a caller's max_tokens wins), a small context. */
export const TINY_MODEL_PARAMETERS = { num_ctx: 1024, num_predict: 24, stop: ['<|user|>'] } as const;

/** Deterministic pseudo-random numbers (mulberry32): the same file, byte for byte, on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The vocabulary: specials, the 256 byte tokens, then word pieces ("▁" marks a word start). */
function vocabulary(size: number): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3]; // UNKNOWN, CONTROL, CONTROL
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6); // BYTE
  }
  const pieces = new Set<string>(['▁']);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (const c of letters) pieces.add(c).add(`▁${c}`);
  for (const c of '0123456789.,:;!?\'"-()') pieces.add(c);
  const words = 'the of and to in is it you that he was for on are with as be at this have from or one had by but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part'.split(' ');
  for (const w of words) pieces.add(`▁${w}`);
  for (let i = 0; pieces.size + tokens.length < size; i++) pieces.add(`▁${letters[i % 26]}${letters[Math.floor(i / 26) % 26]}`);
  for (const p of pieces) {
    if (tokens.length >= size) break;
    tokens.push(p);
    types.push(1); // NORMAL
  }
  // SentencePiece prefers higher scores: longer pieces first, then by order.
  const scores = tokens.map((t, i) => (types[i] === 1 ? -i / size + [...t].length : 0));
  return { tokens, scores, types };
}

/** The GGUF file of kortix-tiny (deterministic: the same bytes every time). */
export function tinyModelGguf(): Buffer {
  const s = TINY_MODEL_SHAPE;
  const headDim = s.embd / s.heads;
  const next = rng(0x6b6f7274);
  const weights = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (next() * 2 - 1) * scale;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const matrix = (name: string, cols: number, rows: number): GgufTensor => ({ name, dims: [cols, rows], type: 'F16', data: weights(cols * rows, 1 / Math.sqrt(cols)) });
  const tensors: GgufTensor[] = [
    { name: 'token_embd.weight', dims: [s.embd, s.vocab], type: 'F16', data: weights(s.embd * s.vocab, 0.5) },
    { name: 'output_norm.weight', dims: [s.embd], type: 'F32', data: ones(s.embd) },
    matrix('output.weight', s.embd, s.vocab),
  ];
  for (let l = 0; l < s.layers; l++) {
    tensors.push(
      { name: `blk.${l}.attn_norm.weight`, dims: [s.embd], type: 'F32', data: ones(s.embd) },
      matrix(`blk.${l}.attn_q.weight`, s.embd, s.embd),
      matrix(`blk.${l}.attn_k.weight`, s.embd, headDim * s.kvHeads),
      matrix(`blk.${l}.attn_v.weight`, s.embd, headDim * s.kvHeads),
      matrix(`blk.${l}.attn_output.weight`, s.embd, s.embd),
      { name: `blk.${l}.ffn_norm.weight`, dims: [s.embd], type: 'F32', data: ones(s.embd) },
      matrix(`blk.${l}.ffn_gate.weight`, s.embd, s.ff),
      matrix(`blk.${l}.ffn_up.weight`, s.embd, s.ff),
      matrix(`blk.${l}.ffn_down.weight`, s.ff, s.embd),
    );
  }
  const vocab = vocabulary(s.vocab);
  const metadata: Record<string, GgufValue> = {
    'general.architecture': str('llama'),
    'general.name': str(TINY_MODEL_NAME),
    'general.file_type': u32(1), // mostly F16
    'llama.context_length': u32(s.context),
    'llama.embedding_length': u32(s.embd),
    'llama.block_count': u32(s.layers),
    'llama.feed_forward_length': u32(s.ff),
    'llama.attention.head_count': u32(s.heads),
    'llama.attention.head_count_kv': u32(s.kvHeads),
    'llama.attention.layer_norm_rms_epsilon': f32(1e-5),
    'llama.rope.dimension_count': u32(headDim),
    'llama.rope.freq_base': f32(10000),
    'llama.vocab_size': u32(s.vocab),
    'tokenizer.ggml.model': str('llama'),
    'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: vocab.tokens },
    'tokenizer.ggml.scores': { type: 'array', of: 'f32', value: vocab.scores },
    'tokenizer.ggml.token_type': { type: 'array', of: 'i32', value: vocab.types },
    'tokenizer.ggml.unknown_token_id': u32(0),
    'tokenizer.ggml.bos_token_id': u32(1),
    'tokenizer.ggml.eos_token_id': u32(2),
    'tokenizer.ggml.add_bos_token': bool(true),
    'tokenizer.ggml.add_eos_token': bool(false),
  };
  return writeGguf(metadata, tensors);
}

/** "sha256:<hex>" of a blob, as Ollama names blobs. */
export function blobDigest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A Modelfile for `ollama create kortix-tiny -f <file>` next to the GGUF file. */
export function tinyModelfile(ggufPath: string): string {
  const params = Object.entries(TINY_MODEL_PARAMETERS).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `PARAMETER ${k} ${JSON.stringify(x)}`) : [`PARAMETER ${k} ${String(v)}`]));
  return [`FROM ${ggufPath}`, `TEMPLATE """${TINY_MODEL_TEMPLATE}"""`, ...params, ''].join('\n');
}
