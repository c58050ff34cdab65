/**
 * A deterministic embedder that runs in process, with no model and no server:
 * feature hashing of lower-cased word unigrams and of character 3- to 5-grams
 * inside words, with a signed hash per feature and an l2-normalised result.
 *
 * Why it exists: the tests' tiny local model embeds noise, and no embedding
 * weights can be downloaded here, yet the semantic cache needs an embedder
 * whose similarities mean something, offline, for its tests and its bench.
 * It sees surface form only: word order, casing, punctuation, politeness words
 * and typos barely move it, synonyms ("delete" / "remove") do not meet. A real
 * embedding model (e.g. nomic-embed-text served by Ollama) is the production
 * setting; this one is provider kind `hashed` in the model policy.
 */
import { createHash } from 'node:crypto';
import { LlmError } from './errors.js';
import type { ChatAnswer, ChatProvider, EmbedAnswer, EmbedRequest } from './types.js';

/** Vector size when the model id names none (`hashed-ngram-<dims>`). */
export const HASHED_DEFAULT_DIMENSIONS = 512;

/** Function and politeness words: present in most requests, they say little about what is asked. */
const LIGHT_WORDS = new Set(
  'a an the of to in on at for from by with and or but is are be was it this that these those please kindly could would can will you your me my i we our us just now then also some any all there here do so'.split(' '),
);
/** Weight of a light word against 1 for any other word; the n-grams of light words are left out. */
const LIGHT_WEIGHT = 0.15;
/** Character n-grams carry typos and inflections; words carry the meaning: n-grams weigh less. */
const NGRAM_WEIGHT = 0.35;

function featureIndex(feature: string, dimensions: number): { index: number; sign: 1 | -1 } {
  const d = createHash('sha1').update(feature).digest();
  return { index: d.readUInt32BE(0) % dimensions, sign: (d[4] as number) & 1 ? 1 : -1 };
}

/** The words of a text, lower-cased, letters and digits only (Unicode aware). */
export function wordsOf(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu) ?? [];
}

/** The embedding of one text: `dimensions` floats, length 1 (all zeros for a text without words). */
export function hashedEmbedding(text: string, dimensions = HASHED_DEFAULT_DIMENSIONS): Float32Array {
  const v = new Float32Array(dimensions);
  const add = (feature: string, weight: number) => {
    const { index, sign } = featureIndex(feature, dimensions);
    v[index] = (v[index] as number) + sign * weight;
  };
  for (const word of wordsOf(text)) {
    if (LIGHT_WORDS.has(word)) {
      add(`w:${word}`, LIGHT_WEIGHT);
      continue;
    }
    add(`w:${word}`, 1);
    const padded = `<${word}>`;
    for (let n = 3; n <= 5; n++) for (let i = 0; i + n <= padded.length; i++) add(`c${n}:${padded.slice(i, i + n)}`, NGRAM_WEIGHT);
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) / norm;
  return v;
}

/** `hashed-ngram-256` → 256; anything else: the default size. */
function dimensionsOf(model: string): number {
  const m = /-(\d{1,4})$/.exec(model);
  const n = m ? Number(m[1]) : HASHED_DEFAULT_DIMENSIONS;
  return n >= 16 && n <= 4096 ? n : HASHED_DEFAULT_DIMENSIONS;
}

/** The `hashed` provider: embeddings only; usage at four characters a token, as the mock counts. */
export class HashedEmbeddingProvider implements ChatProvider {
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  complete(): Promise<ChatAnswer> {
    return Promise.reject(new LlmError('not_supported', `provider ${this.#name} (kind hashed) only embeds`, { provider: this.#name }));
  }

  async embed(request: EmbedRequest): Promise<EmbedAnswer> {
    const dims = dimensionsOf(request.model);
    const vectors = request.input.map((text) => Array.from(hashedEmbedding(text, dims)));
    const inputTokens = request.input.reduce((n, s) => n + Math.max(1, Math.ceil(s.length / 4)), 0);
    return { vectors, inputTokens };
  }
}
