/**
 * Entry point of the mock LLM (`npm run mock-llm`): serves the scenarios of
 * MOCK_LLM_SCENARIOS_DIR on MOCK_LLM_HOST:MOCK_LLM_PORT until SIGINT/SIGTERM.
 */
import { loadConfigOrExit } from '../config/index.js';
import { YamlFileError } from '../config/yaml.js';
import { startMockLlm, type MockLlmServer } from './server.js';

function log(level: 'info' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  const line = `${JSON.stringify({ level, msg, ...fields })}\n`;
  if (level === 'error') process.stderr.write(line);
  else process.stdout.write(line);
}

async function start(): Promise<MockLlmServer> {
  const config = loadConfigOrExit();
  try {
    return await startMockLlm({
      scenariosDir: config.MOCK_LLM_SCENARIOS_DIR,
      host: config.MOCK_LLM_HOST,
      port: config.MOCK_LLM_PORT,
    });
  } catch (err) {
    // Scenario files are configuration: show the file:line report as written.
    if (err instanceof YamlFileError) {
      const hint = `(scenarios are read from MOCK_LLM_SCENARIOS_DIR=${config.MOCK_LLM_SCENARIOS_DIR})`;
      process.stderr.write(`${err.message}\n${hint}\n`);
      process.exit(78); // EX_CONFIG
    }
    log('error', 'mock LLM failed to start', { error: (err as Error).message });
    process.exit(1);
  }
}

const server = await start();
log('info', 'mock LLM listening', { url: server.url, scenarios: server.scenarios });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log('error', 'mock LLM failed to close', { error: (err as Error).message });
        process.exit(1);
      },
    );
  });
}
