/**
 * `npm run api`: the HTTP API on API_HOST:API_PORT. Builds it (api/build.ts:
 * migrates the database, loads every policy; a bad one stops startup naming
 * the file and line) and drains on SIGINT/SIGTERM: /readyz turns 503,
 * in-flight requests finish.
 */
import { loadConfigOrExit } from '../config/index.js';
import { createLogger } from '../observability/logger.js';
import { startTracing } from '../observability/tracing.js';
import { buildApi } from './build.js';

const config = loadConfigOrExit();
const logger = createLogger({ level: config.LOG_LEVEL, bindings: { service: 'api' } });
const tracing = startTracing({ service: 'kortix-api', endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });

async function main(): Promise<void> {
  const api = await buildApi(config, { logger });
  const port = await api.start();
  logger.info('api listening', { url: `http://${config.API_HOST}:${port}`, policies: api.policies.names() });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('draining', { signal });
    await api.stop();
    await tracing?.shutdown();
    logger.info('api stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  logger.error('api failed to start', { err });
  process.exit(1);
});
