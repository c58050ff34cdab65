/**
 * The routing table: the first route whose match holds decides, else the
 * policy's default. Pure functions of the request's facts.
 */
import type { ResolvedModelPolicy, Route, Tier } from './model-policy.js';

/** What a route can match on. */
export interface RoutingFacts {
  readonly tenantId: string;
  readonly requestType?: string | undefined;
  readonly tier: Tier;
  /** Estimated prompt tokens (tokenizer count, before the safety margin). */
  readonly promptTokens: number;
}

/** True when every condition the route gives holds. */
export function routeMatches(route: Route, facts: RoutingFacts): boolean {
  const m = route.match;
  if (m.requestType && (facts.requestType === undefined || !m.requestType.includes(facts.requestType))) return false;
  if (m.tenant && !m.tenant.includes(facts.tenantId)) return false;
  if (m.tier && !m.tier.includes(facts.tier)) return false;
  if (m.minPromptTokens !== undefined && facts.promptTokens < m.minPromptTokens) return false;
  if (m.maxPromptTokens !== undefined && facts.promptTokens > m.maxPromptTokens) return false;
  return true;
}

/** The route serving a request: first match wins, else the default route. */
export function matchRoute(policy: ResolvedModelPolicy, facts: RoutingFacts): Route {
  return policy.routes.find((r) => routeMatches(r, facts)) ?? policy.defaultRoute;
}
