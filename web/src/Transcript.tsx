/** One session event as a person reads it: turns, tool calls, decisions, gates, votes, the end. */
import { usd, visible } from './format.js';
import type { SessionEvent } from './types.js';

type Data = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v, null, 2));
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

function Pre({ text, label }: { text: string; label: string }) {
  return (
    <pre className="block" tabIndex={0} aria-label={label}>
      {visible(text)}
    </pre>
  );
}

function LlmTurn({ d }: { d: Data }) {
  const calls = Array.isArray(d.toolCalls) ? (d.toolCalls as { id: string; name: string; arguments: string }[]) : [];
  return (
    <>
      <header>
        <strong>Model</strong> step {num(d.step)} · {str(d.model)} via {str(d.route)} · {num(d.inputTokens)} in / {num(d.outputTokens)} out · {usd(num(d.costUsd))}
        {d.cacheHit === true && <span className="tag">cache hit</span>}
        {d.fallbackUsed === true && <span className="tag warn">fallback</span>}
      </header>
      {str(d.content) && <Pre text={str(d.content)} label="model answer" />}
      {calls.map((c) => (
        <div key={c.id} className="toolcall">
          calls <code>{c.name}</code>
          <Pre text={c.arguments} label={`arguments of ${c.name}`} />
        </div>
      ))}
    </>
  );
}

export function EventItem({ e, durationMs }: { e: SessionEvent; durationMs?: number | undefined }) {
  const d = e.data;
  switch (e.type) {
    case 'message.user':
      return (
        <>
          <header>
            <strong>{str(d.from) || 'user'}</strong> says
          </header>
          <Pre text={str(d.content)} label="user message" />
        </>
      );
    case 'llm.response':
      return <LlmTurn d={d} />;
    case 'tool.decision':
      return (
        <header>
          <strong>Policy</strong> {str(d.name)}: <span className={`decision decision-${str(d.action)}`}>{str(d.action)}</span>
          {d.ruleId ? (
            <>
              {' '}
              by rule <code>{str(d.ruleId)}</code>
            </>
          ) : null}
          {d.reason ? ` — ${str(d.reason)}` : ''}
        </header>
      );
    case 'approval.requested':
      return (
        <header>
          <strong>Gate</strong> {str(d.id)} opened for <code>{str(d.tool)}</code> (risk {str(d.risk)}, rule <code>{str(d.ruleId)}</code>): needs {num(d.required)} approvers
        </header>
      );
    case 'approval.vote':
      return (
        <header>
          <strong>Vote</strong> {str(d.approver)} {str(d.decision)}s gate {str(d.gateId)}
          {d.comment ? `: “${str(d.comment)}”` : ''}
        </header>
      );
    case 'approval.resolved':
      return (
        <header>
          <strong>Gate</strong> {str(d.gateId)} {str(d.outcome)}
          {Array.isArray(d.approvers) && d.approvers.length > 0 ? ` by ${(d.approvers as string[]).join(', ')}` : ''}
        </header>
      );
    case 'tool.started':
      return (
        <>
          <header>
            <strong>Tool</strong> <code>{str(d.name)}</code> started on {str(d.hostId)}
          </header>
          <Pre text={str(d.arguments)} label={`arguments of ${str(d.name)}`} />
        </>
      );
    case 'tool.result':
      return (
        <>
          <header>
            <strong>Result</strong> <code>{str(d.name)}</code>: {d.ok === true ? 'ok' : 'failed'}
            {d.exitCode !== undefined && d.exitCode !== null && <> · exit code {num(d.exitCode)}</>}
            {d.timedOut === true && <span className="tag warn">timed out</span>}
            {d.truncated === true && <span className="tag warn">output truncated</span>}
            {d.ran === false && <span className="tag">not run</span>}
            {durationMs !== undefined && <> · {(durationMs / 1000).toFixed(2)} s</>}
          </header>
          <Pre text={str(d.output ?? d.error)} label={`output of ${str(d.name)}`} />
        </>
      );
    case 'browser.screenshot': {
      // Only PNG or JPEG base64 from the driver become an image (the CSP allows data: images, nothing else).
      const format = d.format === 'jpeg' ? 'jpeg' : 'png';
      const data = typeof d.data === 'string' && /^[A-Za-z0-9+/=]+$/.test(d.data) ? d.data : '';
      return (
        <>
          <header>
            <strong>Screenshot</strong> of {str(d.url) || 'the page'}
          </header>
          {data && (
            <img
              className="screenshot"
              src={`data:image/${format};base64,${data}`}
              width={num(d.width) || undefined}
              height={num(d.height) || undefined}
              alt={`screenshot of ${str(d.url)}`}
              loading="lazy"
            />
          )}
        </>
      );
    }
    case 'sandbox.parked': {
      const workspace = (d.workspace ?? {}) as { bytes?: unknown };
      return (
        <header>
          <strong>Sandbox parked</strong> {d.by === 'pool' ? 'for a session waiting for room' : 'while the session waits'}: its workspace ({num(workspace.bytes)}{' '}
          bytes) is kept and comes back at the next tool call
        </header>
      );
    }
    case 'sandbox.park_refused':
      return (
        <header>
          <strong>Sandbox kept</strong> while the session waits: {str(d.reason)}
        </header>
      );
    case 'session.ended':
      return (
        <>
          <header>
            <strong>Ended</strong>: {str(d.status)} after {num(d.steps)} steps
          </header>
          {str(d.finalAnswer) && <Pre text={str(d.finalAnswer)} label="final answer" />}
          {str(d.error) && <Pre text={str(d.error)} label="error" />}
        </>
      );
    default:
      return (
        <header>
          <strong>{e.type}</strong> <code>{JSON.stringify(d).slice(0, 300)}</code>
        </header>
      );
  }
}

/** Tool durations: the time from `tool.started` to `tool.result` of the same call. */
export function toolDurations(events: readonly SessionEvent[]): Map<number, number> {
  const started = new Map<string, number>();
  const out = new Map<number, number>();
  for (const e of events) {
    const id = typeof e.data.toolCallId === 'string' ? e.data.toolCallId : undefined;
    if (!id) continue;
    if (e.type === 'tool.started') started.set(id, Date.parse(e.at));
    if (e.type === 'tool.result' && started.has(id)) out.set(e.seq, Date.parse(e.at) - (started.get(id) as number));
  }
  return out;
}
