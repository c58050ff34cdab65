/**
 * What the router takes and gives for a chat request (RouteRequest,
 * RoutedAnswer, RouteDecision, ContextChange), and the internal shapes passed
 * between its steps: the prepared request and the executed call.
 */
import type { ContextOverflow, ModelConfig, ResolvedModelPolicy, Route, Tier } from './model-policy.js';
import type { ChatAnswer, ChatMessage } from './types.js';

/** A chat request to the router. */
export interface RouteRequest {
  readonly tenantId: string;
  readonly sessionId?: string | undefined;
  /** Matched by routes' `match.requestType` (simple, research, ...). */
  readonly requestType?: string | undefined;
  /** A model of the policy's table, chosen explicitly; wins over the routes. */
  readonly model?: string | undefined;
  /** The request's complexity tier; estimated from the prompt when not given. */
  readonly tier?: Tier | undefined;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly unknown[];
  readonly metadata?: Readonly<Record<string, string>>;
  /** Wins over the route's temperature. 0 makes the request cacheable. */
  readonly temperature?: number | undefined;
  /** At most the model's maxOutputTokens. */
  readonly maxOutputTokens?: number | undefined;
  /** Overrides the route's onContextOverflow (the agent's setting). */
  readonly contextOverflow?: ContextOverflow | undefined;
  /** Streams the answer's text here (requests with it are never merged). */
  readonly onDelta?: (text: string) => void;
  readonly signal?: AbortSignal;
}

/** What the context-window guard changed. */
export interface ContextChange {
  /** The model the route chose, when a larger one took over. */
  readonly largerModelFor?: string;
  readonly toolOutputsTrimmed: number;
  readonly messagesRemoved: number;
  readonly summarized: boolean;
}

/** A provider's answer with what the router did to get it. */
export interface RoutedAnswer extends ChatAnswer {
  /** The policy's name of the model (its key in `models`). */
  readonly model: string;
  readonly provider: string;
  readonly providerModel: string;
  readonly costUsd: number;
  /** What a cache hit or a merged call saved. */
  readonly savedUsd: number;
  readonly latencyMs: number;
  /** Time spent in upstream calls (latencyMs minus this is the router's own). */
  readonly upstreamMs: number;
  readonly route: string;
  readonly tier: Tier;
  /** The tokenizer's estimate of the prompt that was sent. */
  readonly promptTokens: number;
  readonly cacheHit: boolean;
  readonly merged: boolean;
  readonly fallbackUsed: boolean;
  /** The model the budget's downgrade replaced. */
  readonly downgradedFrom: string | null;
  readonly attempts: number;
  readonly context: ContextChange | null;
}

/** The routing decision, before the context guard. */
export interface RouteDecision {
  readonly route: Route;
  readonly model: string;
  readonly tier: Tier;
  readonly promptTokens: number;
}

/** A request after the decision and the context-window guard, ready for the fallback chain. */
export interface Prepared extends RouteDecision {
  readonly policy: ResolvedModelPolicy;
  readonly messages: readonly ChatMessage[];
  readonly temperature: number | undefined;
  readonly context: ContextChange | null;
}

/** The upstream call that answered, with what it cost and how it was reached. */
export interface Executed {
  readonly answer: ChatAnswer;
  readonly model: string;
  readonly config: ModelConfig;
  readonly costUsd: number;
  readonly attempts: number;
  readonly fallbackUsed: boolean;
  readonly downgradedFrom: string | null;
  readonly upstreamMs: number;
  readonly promptTokens: number;
  /** Answered by the route's model with the prompt as prepared: an answer the caches may keep. */
  readonly cacheable: boolean;
}

