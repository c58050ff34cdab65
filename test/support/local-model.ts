/**
 * A real local model server for a test file: Ollama (scripts/provision/ollama.sh,
 * built once; OLLAMA_HOST wins) on loopback with its models in the run's tmp
 * dir, and kortix-tiny (scripts/lib/tiny-model.ts) created on it.
 */
import { join } from 'node:path';
import { createTinyModel, startOllama, type OllamaServer } from '../../scripts/lib/ollama.js';

export interface LocalModel {
  readonly server: OllamaServer;
  /** The model name to ask the server for. */
  readonly model: string;
}

/** Starts Ollama and creates kortix-tiny on it (the first call may build Ollama: ~10 min). */
export async function startLocalModel(tmpDir: string): Promise<LocalModel> {
  const server = await startOllama({ modelsDir: join(tmpDir, 'ollama-models'), logFile: join(tmpDir, 'ollama.log') });
  try {
    return { server, model: await createTinyModel(server.url) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
