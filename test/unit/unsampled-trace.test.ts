/** temporal/unsampled-trace.ts: what a client passes to workflows when its process traces nothing. */
import { defaultPayloadConverter, type Headers } from '@temporalio/common';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { describe, expect, it } from 'vitest';
import { UnsampledTraceClientInterceptor, unsampledTraceparent, withUnsampledTrace } from '../../temporal/unsampled-trace.js';

const W3C = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-00$/;
const carrier = (headers: Headers) => defaultPayloadConverter.fromPayload<Record<string, string>>(headers[TRACE_HEADER] as NonNullable<Headers[string]>);
const header = (value: unknown) => ({ [TRACE_HEADER]: defaultPayloadConverter.toPayload(value) });
const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('unsampled trace context', () => {
  it('is a new W3C trace, not sampled, each time', () => {
    const all = Array.from({ length: 200 }, unsampledTraceparent);
    for (const t of all) expect(t).toMatch(W3C);
    expect(new Set(all).size).toBe(200);
  });

  it('is added where no header is or where Temporal sent an empty one; a trace already there stays', () => {
    const other = { other: defaultPayloadConverter.toPayload('x') };
    const added = withUnsampledTrace(other);
    expect(carrier(added).traceparent).toMatch(W3C);
    expect(added.other).toBe(other.other);
    expect(carrier(withUnsampledTrace(header({}))).traceparent).toMatch(W3C);
    const sampled = header({ traceparent: SAMPLED });
    expect(withUnsampledTrace(sampled)).toBe(sampled);
    // A header it cannot read is someone else's: left alone.
    const foreign = { [TRACE_HEADER]: { metadata: { encoding: new TextEncoder().encode('binary/custom') }, data: new Uint8Array([1]) } };
    expect(withUnsampledTrace(foreign)).toBe(foreign);
  });

  it('reaches every call whose headers a workflow reads', async () => {
    const interceptor = new UnsampledTraceClientInterceptor();
    type Input = { headers: Headers; workflowStartHeaders: Headers; updateHeaders: Headers };
    const passed: { last?: Input } = {};
    const next = async (input: Input) => {
      passed.last = input;
      return undefined as never;
    };
    const input = { headers: {}, workflowStartHeaders: {}, updateHeaders: {} } as never;
    const last = (): Input | undefined => passed.last;
    const traced = (h: Headers | undefined) => (h?.[TRACE_HEADER] ? (carrier(h).traceparent ?? '') : '');
    for (const method of ['start', 'startWithDetails', 'signal', 'signalWithStart', 'startUpdate', 'query'] as const) {
      delete passed.last;
      await interceptor[method](input, next as never);
      expect(traced(last()?.headers), method).toMatch(W3C);
    }
    await interceptor.startUpdateWithStart(input, next as never);
    expect(traced(last()?.workflowStartHeaders)).toMatch(W3C);
    expect(traced(last()?.updateHeaders)).toMatch(W3C);
  });
});
