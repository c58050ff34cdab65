/** Activity log lines carry the session and the tenant (and, inside a span, the trace). */
import { MockActivityEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { workerInterceptors } from '../../temporal/worker-options.js';

class RecordingLogger implements Logger {
  readonly lines: { message: string; meta: LogMetadata }[] = [];
  log(_level: LogLevel, message: string, meta: LogMetadata = {}) {
    this.lines.push({ message, meta });
  }
  trace = (m: string, meta?: LogMetadata) => this.log('TRACE', m, meta);
  debug = (m: string, meta?: LogMetadata) => this.log('DEBUG', m, meta);
  info = (m: string, meta?: LogMetadata) => this.log('INFO', m, meta);
  warn = (m: string, meta?: LogMetadata) => this.log('WARN', m, meta);
  error = (m: string, meta?: LogMetadata) => this.log('ERROR', m, meta);
}

describe('activity log lines', () => {
  it('name the session and the tenant of the activity input', async () => {
    const logger = new RecordingLogger();
    const env = new MockActivityEnvironment({}, { logger, interceptors: workerInterceptors().activity ?? [] });
    await env.run(async (input: { session: { sessionId: string; tenantId: string } }) => {
      Context.current().log.info('doing the work', { step: 1 });
      return input.session.sessionId;
    }, { session: { sessionId: 'ses_123', tenantId: 'acme' } });
    const line = logger.lines.find((l) => l.message === 'doing the work');
    expect(line?.meta).toMatchObject({ session: 'ses_123', tenant: 'acme', step: 1 });
  });
});
