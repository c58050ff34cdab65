/** Prices of calls from the policy's table (USD per million tokens), kept to 1e-8 USD. */
import type { ModelConfig } from './model-policy.js';
import type { TokenUsage } from './types.js';

/** Rounds to a millionth of a cent (1e-8 USD). */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e8) / 1e8;
}

/** Exact cost in USD of one call, from the model's prices per million tokens and the usage the provider reported. */
export function callCostUsd(model: ModelConfig, usage: TokenUsage): number {
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const written = Math.min(usage.cacheWriteInputTokens ?? 0, usage.inputTokens - cached);
  const micro =
    (usage.inputTokens - cached - written) * model.inputPerMTok +
    cached * (model.cachedInputPerMTok ?? model.inputPerMTok) +
    written * (model.cacheWritePerMTok ?? model.inputPerMTok) +
    usage.outputTokens * model.outputPerMTok;
  // `micro` is in millionths of a dollar; keep a millionth of a cent (1e-8 $).
  return Math.round(micro * 100) / 1e8;
}

/**
 * The most a call can cost: every estimated prompt token (times the margin) at
 * the highest input price, plus max_tokens of output. Reserved before the call.
 */
export function maxCallCostUsd(model: ModelConfig, promptTokens: number, margin: number): number {
  const inputPrice = Math.max(model.inputPerMTok, model.cacheWritePerMTok ?? 0);
  const micro = Math.ceil(promptTokens * margin) * inputPrice + model.maxOutputTokens * model.outputPerMTok;
  return Math.ceil(micro * 100) / 1e8;
}
