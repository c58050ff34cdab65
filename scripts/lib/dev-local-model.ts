/**
 * `make dev` with LOCAL_MODEL set: Ollama on loopback (or the user's own at
 * OLLAMA_HOST) serving that model to the router's local provider, with its
 * models under KORTIX_DATA_DIR/ollama. kortix-tiny is made on the spot (no
 * download); any other model must be there already, and we say how.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Env } from '../../config/index.js';
import { createTinyModel, hasModel, ollamaBaseUrl, startOllama, type OllamaServer } from './ollama.js';
import { TINY_MODEL_NAME, tinyModelfile, tinyModelGguf } from './tiny-model.js';

/** How to give the local server a real model, for a person reading `make dev`'s output. */
export function pointAtRealModel(url: string, modelsDir: string, model: string): string {
  const host = new URL(url).host;
  return [
    `The local server has no model "${model}". Give it one, then restart make dev (or just send requests again):`,
    `  - with internet:   OLLAMA_HOST=${host} ollama pull ${model}          (e.g. qwen2.5:0.5b, ~400 MB)`,
    `  - on another machine with internet: OLLAMA_MODELS=${modelsDir} ollama pull ${model}, then copy that directory here`,
    `  - from a GGUF file: printf 'FROM ./model.gguf\\n' > Modelfile && OLLAMA_HOST=${host} ollama create ${model} -f Modelfile`,
    `  - offline, for trying the path: LOCAL_MODEL=${TINY_MODEL_NAME} (a random-weight model made here; its answers are noise)`,
  ].join('\n');
}

export interface DevLocalModel {
  readonly server: OllamaServer;
  /** LOCAL_LLM_URL for the worker and the API. */
  readonly openAiUrl: string;
  readonly ready: boolean;
}

/** Starts (or finds) the local server and makes sure it has LOCAL_MODEL; says what it does. */
export async function startDevLocalModel(config: Pick<Env, 'LOCAL_MODEL' | 'LOCAL_LLM_URL' | 'KORTIX_DATA_DIR'>, env: NodeJS.ProcessEnv, say: (msg: string) => void): Promise<DevLocalModel> {
  const model = config.LOCAL_MODEL as string;
  const modelsDir = resolve(config.KORTIX_DATA_DIR, 'ollama');
  const own = !env.OLLAMA_HOST;
  // Our own server listens where LOCAL_LLM_URL points (default 127.0.0.1:11434), loopback only.
  const configured = new URL(config.LOCAL_LLM_URL);
  const port = Number(configured.port || 11434);
  say(own ? `starting Ollama on 127.0.0.1:${port} (models: ${modelsDir}, log: ${config.KORTIX_DATA_DIR}/logs/ollama.log)` : `using the Ollama at OLLAMA_HOST=${env.OLLAMA_HOST}`);
  const server = await startOllama({ modelsDir, logFile: resolve(config.KORTIX_DATA_DIR, 'logs/ollama.log'), port, env });
  const openAiUrl = own ? server.openAiUrl : `${ollamaBaseUrl(env.OLLAMA_HOST as string)}/v1`;
  if (model === TINY_MODEL_NAME) {
    await createTinyModel(server.url);
    // The same model as files, for `ollama create kortix-tiny -f <dir>/Modelfile` on any server.
    const dir = resolve(config.KORTIX_DATA_DIR, TINY_MODEL_NAME);
    mkdirSync(dir, { recursive: true });
    writeFileSync(resolve(dir, `${TINY_MODEL_NAME}.gguf`), tinyModelGguf());
    writeFileSync(resolve(dir, 'Modelfile'), tinyModelfile(`./${TINY_MODEL_NAME}.gguf`));
    say(`made ${TINY_MODEL_NAME} on the local server (random weights: the path is real, the words are noise); its GGUF and Modelfile are in ${dir}`);
    return { server, openAiUrl, ready: true };
  }
  const ready = await hasModel(server.url, model);
  if (!ready) say(pointAtRealModel(server.url, modelsDir, model));
  return { server, openAiUrl, ready };
}
