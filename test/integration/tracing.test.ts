/**
 * One session is one trace: the HTTP request that starts it, the workflow
 * start, the workflow run, and every activity down to the sandbox exec share
 * a trace id and hang from each other, parent by parent.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTracing, type Tracing } from '../../observability/tracing.js';
import { startSession, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: Stack;

beforeAll(async () => {
  const started = startTracing({ service: 'kortix-test', spanProcessor: new SimpleSpanProcessor(exporter) });
  if (!started) throw new Error('tracing did not start');
  tracing = started;
  stack = await startStack(inject('services'), { tracing });
});
afterAll(async () => {
  await stack?.close();
  await tracing?.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

function ancestors(span: ReadableSpan, byId: Map<string, ReadableSpan>): string[] {
  const names: string[] = [];
  let current: ReadableSpan | undefined = span;
  while (current) {
    names.push(current.name);
    current = current.parentSpanId ? byId.get(current.parentSpanId) : undefined;
  }
  return names;
}

describe('a session trace', () => {
  it('runs from the HTTP request down to the sandbox exec', async () => {
    const session = await startSession(stack, { message: 'say hello from the sandbox' });
    await waitForStatus(stack, session.id);
    const exec = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === 'RunActivity:execTool'), 20_000, 'the exec span');
    const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === exec.spanContext().traceId);
    // Workflow spans leave through a sink after their workflow task completes,
    // so the last ones may land a moment after the session reports its end.
    const rootReached = () => {
      const byId = new Map(inTrace().map((s) => [s.spanContext().spanId, s]));
      return ancestors(exec, byId).at(-1) === 'POST /v1/sessions';
    };
    await waitFor(rootReached, 20_000, 'every span from the exec up to the HTTP request').catch(() => undefined);

    const spans = inTrace();
    const http = spans.find((s) => s.name === 'POST /v1/sessions');
    expect(http, spans.map((s) => s.name).join(', ')).toBeDefined();
    expect(http?.attributes).toMatchObject({ 'http.route': '/v1/sessions', 'http.response.status_code': 201, 'kortix.tenant': stack.tenantId });

    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const chain = ancestors(exec, byId);
    expect(chain[0]).toBe('RunActivity:execTool');
    expect(chain.at(-1)).toBe('POST /v1/sessions');
    expect(chain).toContain('StartWorkflow:agentSession');
    expect(chain).toContain('RunWorkflow:agentSession');

    const llm = spans.find((s) => s.name === 'RunActivity:llmStep');
    expect(llm?.attributes).toMatchObject({ 'llm.provider': 'mock', 'llm.model': 'mock', 'kortix.session': session.id });
    expect(Number(llm?.attributes['llm.tokens.input'])).toBeGreaterThan(0);
    expect(exec.attributes).toMatchObject({ 'sandbox.tool': 'shell', 'sandbox.exit_code': 0, 'kortix.session': session.id });
    // Every activity of this session is in this one trace (later GETs of the session are traces of their own).
    const activities = exporter.getFinishedSpans().filter((s) => s.name.startsWith('RunActivity:') && s.attributes['kortix.session'] === session.id);
    expect(activities.length).toBeGreaterThanOrEqual(3);
    expect(new Set(activities.map((s) => s.spanContext().traceId))).toEqual(new Set([exec.spanContext().traceId]));
  });
});
