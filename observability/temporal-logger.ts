/** Temporal's Logger interface over our JSON logger (SDK, worker and bundler logs). */
import type { Logger as TemporalLogger, LogLevel as TemporalLevel, LogMetadata } from '@temporalio/common';
import type { Logger } from './logger.js';

export function temporalLogger(logger: Logger): TemporalLogger {
  const at = (level: TemporalLevel, message: string, meta?: LogMetadata) => {
    const fields = { ...(meta ?? {}) } as Record<string, unknown>;
    switch (level) {
      case 'TRACE':
      case 'DEBUG':
        return logger.debug(message, fields);
      case 'INFO':
        return logger.info(message, fields);
      case 'WARN':
        return logger.warn(message, fields);
      case 'ERROR':
        return logger.error(message, fields);
    }
  };
  return {
    log: at,
    trace: (m, meta) => at('TRACE', m, meta),
    debug: (m, meta) => at('DEBUG', m, meta),
    info: (m, meta) => at('INFO', m, meta),
    warn: (m, meta) => at('WARN', m, meta),
    error: (m, meta) => at('ERROR', m, meta),
  };
}
