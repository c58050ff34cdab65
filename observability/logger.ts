/**
 * Structured JSON logs, one object per line, with bindings (service, session,
 * tenant, trace) carried by child loggers. Never pass secrets or payloads.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly bindings?: Record<string, unknown>;
  /** Where lines go; stdout by default. */
  readonly write?: (line: string) => void;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger({ level = 'info', bindings = {}, write = (l) => process.stdout.write(l) }: LoggerOptions = {}): Logger {
  const min = ORDER[level];
  const log = (lvl: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[lvl] < min) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg, ...bindings };
    // Every line logged inside a span carries its trace, to find it in Jaeger.
    const span = trace.getActiveSpan()?.spanContext();
    if (span && isSpanContextValid(span)) {
      entry.trace_id = span.traceId;
      entry.span_id = span.spanId;
    }
    for (const [k, v] of Object.entries(fields)) entry[k] = serialise(v);
    write(`${JSON.stringify(entry)}\n`);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (more) => createLogger({ level, bindings: { ...bindings, ...more }, write }),
  };
}
