/**
 * `POST /v1/embeddings` of the mock LLM, in OpenAI's shape: one deterministic
 * unit vector per input (from its sha256), usage at four characters a token.
 * Counts requests and inputs, so that tests see how requests were batched.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Counters served at `GET /_mock/embeddings/stats`. */
export interface EmbeddingStats {
  /** Requests to /v1/embeddings that were answered. */
  requests: number;
  /** Inputs embedded, over all requests. */
  inputs: number;
  /** Inputs per request, in arrival order. */
  batchSizes: number[];
}

const requestSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]),
  dimensions: z.number().int().min(1).max(4096).nullish(),
  encoding_format: z.enum(['float', 'base64']).nullish(),
});

/** The default vector size (small: tests compare vectors). */
export const MOCK_EMBEDDING_DIMENSIONS = 8;

/** The mock's vector of a text: the same text, the same vector, length 1. */
export function mockEmbedding(text: string, dimensions = MOCK_EMBEDDING_DIMENSIONS): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}\u0000${text}`).digest();
    for (let i = 0; i + 1 < digest.length && values.length < dimensions; i += 2) values.push(digest.readUInt16BE(i) / 32767.5 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}

/** The counters of one server. */
export class EmbeddingCounters {
  #requests = 0;
  #inputs = 0;
  #sizes: number[] = [];

  count(inputs: number): void {
    this.#requests++;
    this.#inputs += inputs;
    this.#sizes.push(inputs);
  }

  stats(): EmbeddingStats {
    return { requests: this.#requests, inputs: this.#inputs, batchSizes: [...this.#sizes] };
  }

  reset(): void {
    this.#requests = 0;
    this.#inputs = 0;
    this.#sizes = [];
  }
}

/** Validates a body and answers it; a bad body is a Zod error, mapped to a 400 by the caller. */
export function answerEmbeddings(raw: unknown, counters: EmbeddingCounters): { ok: true; body: Record<string, unknown> } | { ok: false; error: z.ZodError } {
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: parsed.error };
  const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input;
  counters.count(inputs.length);
  const tokens = inputs.reduce((n, s) => n + Math.max(1, Math.ceil(s.length / 4)), 0);
  return {
    ok: true,
    body: {
      object: 'list',
      model: parsed.data.model,
      data: inputs.map((text, index) => {
        const vector = mockEmbedding(text, parsed.data.dimensions ?? undefined);
        // base64 is little-endian float32, as OpenAI sends it (the openai client asks for it).
        const embedding = parsed.data.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
        return { object: 'embedding', index, embedding };
      }),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}
