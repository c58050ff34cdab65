/** How a model call failed, in classes that decide retries and fallbacks. */
export type LlmErrorClass =
  | 'rate_limit'
  | 'timeout'
  | 'server_error'
  | 'unavailable'
  | 'context_window'
  /** The deployment does not have the model (a local server that never pulled it, a retired cloud model): waiting does not help, another model may. */
  | 'model_missing'
  | 'bad_request'
  | 'auth'
  | 'not_supported'
  | 'budget_exceeded';

/** Classes worth retrying later: the same request may succeed. */
export const RETRYABLE_CLASSES: ReadonlySet<LlmErrorClass> = new Set(['rate_limit', 'timeout', 'server_error', 'unavailable']);

/** What an LlmError knows about where it happened. */
export interface LlmErrorDetails {
  readonly provider?: string;
  readonly model?: string;
  readonly status?: number;
  /** How long the provider (or the router's cooldown) asks to wait before the next try. */
  readonly retryAfterMs?: number;
  /** A stream that broke after tokens were handed to the caller. */
  readonly partial?: boolean;
}

/** A failed model call, with the class that decides retries, fallbacks and how Temporal sees it. */
export class LlmError extends Error {
  override readonly name = 'LlmError';
  constructor(
    readonly errorClass: LlmErrorClass,
    message: string,
    readonly details: LlmErrorDetails = {},
  ) {
    super(message);
  }

  get retryable(): boolean {
    return RETRYABLE_CLASSES.has(this.errorClass);
  }
}

/** How OpenAI (`model_not_found`), Ollama (`model "x" not found, try pulling it first`) and vLLM (`The model `x` does not exist`) say it. */
const MODEL_MISSING = /model_not_found|\bmodel\b[^\n]{0,300}?\b(?:not found|does not exist)/i;

/** The class of an HTTP error answer from a provider (OpenAI-compatible or Anthropic). */
export function classifyStatus(status: number, body: string): LlmErrorClass {
  if (status === 429) return 'rate_limit';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500) return 'server_error';
  if ((status === 404 || status === 400) && MODEL_MISSING.test(body)) return 'model_missing';
  if (/context.length|context_length_exceeded|maximum context|too many tokens|prompt is too long/i.test(body)) return 'context_window';
  return 'bad_request';
}

/** Retry-After as milliseconds: seconds or an HTTP date. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The refusal of a call that the tenant's budget cannot cover (not retryable: waiting does not refill it). */
export function budgetExceeded(
  tenantId: string,
  r: { period: 'day' | 'month'; limitUsd: number; spentUsd: number; reservedUsd: number },
  model: string,
  amountUsd: number,
): LlmError {
  return new LlmError(
    'budget_exceeded',
    `model budget of tenant ${tenantId} exceeded: ${r.period === 'day' ? 'daily' : 'monthly'} limit $${r.limitUsd}, spent $${r.spentUsd.toFixed(6)}, reserved $${r.reservedUsd.toFixed(6)}, this call on ${model} may cost up to $${amountUsd.toFixed(6)}`,
    { model },
  );
}
