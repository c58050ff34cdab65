/**
 * A chat request before it goes upstream: the routing decision (explicit
 * model, else the first matching route), the context-window guard (a larger
 * model, a summary or trimming), and what one deployment of the chain is sent.
 */
import type { Logger } from '../observability/logger.js';
import { estimateTier } from './complexity.js';
import { fits, planSummary, promptLimit, summaryMessage, summaryPrompt, trimTranscript } from './context-guard.js';
import type { Cooldowns } from './cooldown.js';
import { LlmError } from './errors.js';
import { chatModelProblem, modelOf, TIERS, type ModelConfig, type ResolvedModelPolicy } from './model-policy.js';
import type { Prepared, RoutedAnswer, RouteDecision, RouteRequest } from './route-types.js';
import { matchRoute } from './routing.js';
import { estimatePromptTokens } from './tokens.js';
import type { ChatMessage } from './types.js';

/** Tokens kept free for the summary that replaces summarised turns. */
const SUMMARY_TOKENS = 512;

/** Route and model for a request: explicit model > first matching route > default. */
export function decideRoute(request: Pick<RouteRequest, 'tenantId' | 'model' | 'requestType' | 'tier' | 'messages' | 'tools'>, policy: ResolvedModelPolicy): RouteDecision {
  const modelProblem = request.model === undefined ? undefined : chatModelProblem(policy, request.model);
  if (modelProblem) throw new LlmError('bad_request', modelProblem);
  if (request.tier !== undefined && !TIERS.includes(request.tier)) {
    throw new LlmError('bad_request', `unknown complexity tier "${String(request.tier)}"; known: ${TIERS.join(', ')}`);
  }
  const promptTokens = estimatePromptTokens(request.messages, request.tools);
  const tier = request.tier ?? estimateTier({ messages: request.messages, promptTokens, hasTools: (request.tools?.length ?? 0) > 0 });
  const route = matchRoute(policy, { tenantId: request.tenantId, requestType: request.requestType, tier, promptTokens });
  return { route, model: request.model ?? route.model, tier, promptTokens };
}

/** The request's output cap on a model: at most the model's maxOutputTokens. */
export function maxOutputFor(model: ModelConfig, request: Pick<RouteRequest, 'maxOutputTokens'>): number {
  return Math.min(request.maxOutputTokens ?? model.maxOutputTokens, model.maxOutputTokens);
}

/** What the context-window guard uses: cooldowns (a cooling larger model is skipped), logs, and the router for summaries. */
export interface PrepareDeps {
  readonly cooldowns: Cooldowns;
  readonly logger: Logger | undefined;
  /** Sends the summary request through the router. */
  readonly complete: (request: RouteRequest) => Promise<RoutedAnswer>;
}

/** The decision plus the context-window guard. */
export async function prepareRequest(deps: PrepareDeps, policy: ResolvedModelPolicy, request: RouteRequest): Promise<Prepared> {
  const decision = decideRoute(request, policy);
  const temperature = request.temperature ?? decision.route.temperature;
  const margin = policy.context.estimateMargin;
  const chosen = policy.models[decision.model] as ModelConfig;
  const unchanged = { ...decision, policy, messages: request.messages, temperature, context: null };
  if (fits(chosen, decision.promptTokens, margin)) return unchanged;

  // A larger model, when the policy allows one.
  for (const key of decision.route.fallbacks.context_window ?? []) {
    const m = modelOf(policy, key);
    if (m && fits(m, decision.promptTokens, margin) && !deps.cooldowns.cooling(`${m.provider}/${m.model}`)) {
      deps.logger?.info('context window: a larger model takes the request', { from: decision.model, to: key, promptTokens: decision.promptTokens });
      return { ...unchanged, model: key, context: { largerModelFor: decision.model, toolOutputsTrimmed: 0, messagesRemoved: 0, summarized: false } };
    }
  }
  const mode = request.contextOverflow ?? decision.route.onContextOverflow;
  const limit = promptLimit(chosen, margin);
  const what = `a prompt of ~${decision.promptTokens} tokens does not fit ${decision.model} (window ${chosen.contextWindow}, ${chosen.maxOutputTokens} kept for the answer)`;
  if (mode === 'fail') throw new LlmError('context_window', `${what}, no larger model is allowed and onContextOverflow is fail`, { model: decision.model });
  let messages = request.messages;
  let summarized = false;
  let removed = 0;
  if (mode === 'summarize') {
    const plan = planSummary(messages, request.tools, limit, policy.context.keepRecentMessages, SUMMARY_TOKENS);
    if (plan) {
      try {
        const summary = await deps.complete({
          tenantId: request.tenantId,
          sessionId: request.sessionId,
          model: policy.context.summaryModel ?? policy.defaultRoute.model,
          requestType: 'summary',
          messages: summaryPrompt(plan.removed),
          temperature: 0,
          maxOutputTokens: SUMMARY_TOKENS,
          contextOverflow: 'trim',
          ...(request.signal ? { signal: request.signal } : {}),
        });
        messages = [...plan.kept.slice(0, plan.insertAt), summaryMessage(summary.content ?? '', plan.removed.length), ...plan.kept.slice(plan.insertAt)];
        summarized = true;
        removed = plan.removed.length;
      } catch (err) {
        deps.logger?.warn('context window: summary failed, trimming instead', { error: (err as Error).message });
      }
    }
  }
  const cut = trimTranscript(messages, request.tools, limit, policy.context.keepRecentMessages);
  if (!cut) {
    throw new LlmError('context_window', `${what}, and even the kept messages (system prompt, last user message, last ${policy.context.keepRecentMessages}) are over ${limit} tokens`, {
      model: decision.model,
    });
  }
  return {
    ...unchanged,
    messages: cut.messages,
    promptTokens: cut.promptTokens,
    context: { toolOutputsTrimmed: cut.toolOutputsTrimmed, messagesRemoved: removed + cut.messagesRemoved, summarized },
  };
}

/** The prompt a deployment gets: as prepared, or trimmed to its smaller window; undefined when it cannot fit. */
export function promptFor(p: Prepared, request: RouteRequest, model: ModelConfig): { messages: readonly ChatMessage[]; promptTokens: number } | undefined {
  const margin = p.policy.context.estimateMargin;
  if (fits(model, p.promptTokens, margin)) return { messages: p.messages, promptTokens: p.promptTokens };
  if ((request.contextOverflow ?? p.route.onContextOverflow) === 'fail') return undefined;
  return trimTranscript(p.messages, request.tools, promptLimit(model, margin), p.policy.context.keepRecentMessages);
}
