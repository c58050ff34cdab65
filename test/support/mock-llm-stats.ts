import type { ServiceValues } from './services.js';

/** How many chat requests the suite's mock LLM has answered for a scenario (all test files share it). */
export async function countMockRequests(services: Pick<ServiceValues, 'mockLlmUrl'>, scenario: string): Promise<number> {
  const stats = await (await fetch(`${services.mockLlmUrl.replace(/\/v1$/, '')}/_mock/stats`)).json();
  return (stats as { byScenario: Record<string, number> }).byScenario[scenario] ?? 0;
}
