/** How a model call failed, in classes that decide retries and fallbacks. */
export type LlmErrorClass =
  | 'rate_limit'
  | 'timeout'
  | 'server_error'
  | 'unavailable'
  | 'context_window'
  | 'bad_request'
  | 'auth'
  | 'not_supported';

/** Classes worth retrying later: the same request may succeed. */
export const RETRYABLE_CLASSES: ReadonlySet<LlmErrorClass> = new Set(['rate_limit', 'timeout', 'server_error', 'unavailable']);

export class LlmError extends Error {
  override readonly name = 'LlmError';
  constructor(
    readonly errorClass: LlmErrorClass,
    message: string,
    readonly details: { provider?: string; model?: string; status?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
  }

  get retryable(): boolean {
    return RETRYABLE_CLASSES.has(this.errorClass);
  }
}

/** The class of an HTTP error answer from a provider. */
export function classifyStatus(status: number, body: string): LlmErrorClass {
  if (status === 429) return 'rate_limit';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500) return 'server_error';
  if (/context.length|context_length_exceeded|maximum context|too many tokens/i.test(body)) return 'context_window';
  return 'bad_request';
}
