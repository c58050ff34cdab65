/**
 * `make dev` with LOCAL_MODEL set: Ollama on loopback (or the user's own at
 * OLLAMA_HOST) serving that model to the router's local provider, with its
 * models under KORTIX_DATA_DIR/ollama. kortix-tiny is made on the spot (no
 * download); a GGUF file's path is created as a model named after the file;
 * any other model must be there already, and we say how.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Env } from '../../config/index.js';
import { createModelFromFile, createTinyModel, hasModel, ollamaBaseUrl, startOllama, type OllamaServer } from './ollama.js';
import { TINY_MODEL_NAME, tinyModelfile, tinyModelGguf } from './tiny-model.js';

/** How to give the local server a real model, for a person reading `make dev`'s output. */
export function pointAtRealModel(url: string, modelsDir: string, model: string): string {
  const host = new URL(url).host;
  return [
    `The local server has no model "${model}". Give it one, then restart make dev (or just send requests again):`,
    `  - with internet:   OLLAMA_HOST=${host} ollama pull ${model}          (e.g. qwen2.5:0.5b, ~400 MB)`,
    `  - on another machine with internet: OLLAMA_MODELS=${modelsDir} ollama pull ${model}, then copy that directory here`,
    `  - from a GGUF file: LOCAL_MODEL=/path/to/model.gguf make dev (the model is created from it, named after the file),`,
    `    or: printf 'FROM ./model.gguf\\n' > Modelfile && OLLAMA_HOST=${host} ollama create ${model} -f Modelfile`,
    `  - offline, for trying the path: LOCAL_MODEL=${TINY_MODEL_NAME} (a random-weight model made here; its answers are noise)`,
  ].join('\n');
}

/**
 * The model name Ollama gets for a GGUF file: its base name without `.gguf`,
 * lowercased, with anything outside Ollama's name characters made a dash
 * (`Qwen2.5-0.5B-Instruct-Q4_K_M.gguf` → `qwen2.5-0.5b-instruct-q4_k_m`).
 */
export function ggufModelName(path: string): string {
  const stem = basename(path).replace(/\.gguf$/i, '').toLowerCase();
  const name = stem.replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return name || 'local-gguf';
}

/** LOCAL_MODEL names a GGUF file rather than a model. */
export const isGgufPath = (model: string): boolean => /\.gguf$/i.test(model);

export interface DevLocalModel {
  readonly server: OllamaServer;
  /** The model's name on the server: LOCAL_MODEL, or the name made for a GGUF file (what the platform asks for). */
  readonly model: string;
  /** LOCAL_LLM_URL for the worker and the API. */
  readonly openAiUrl: string;
  readonly ready: boolean;
}

/** Starts (or finds) the local server and makes sure it has LOCAL_MODEL; says what it does. */
export async function startDevLocalModel(config: Pick<Env, 'LOCAL_MODEL' | 'LOCAL_LLM_URL' | 'KORTIX_DATA_DIR'>, env: NodeJS.ProcessEnv, say: (msg: string) => void): Promise<DevLocalModel> {
  const configured = config.LOCAL_MODEL as string;
  const modelsDir = resolve(config.KORTIX_DATA_DIR, 'ollama');
  const own = !env.OLLAMA_HOST;
  // Our own server listens where LOCAL_LLM_URL points (default 127.0.0.1:11434), loopback only.
  const listen = new URL(config.LOCAL_LLM_URL);
  const port = Number(listen.port || 11434);
  say(own ? `starting Ollama on 127.0.0.1:${port} (models: ${modelsDir}, log: ${config.KORTIX_DATA_DIR}/logs/ollama.log)` : `using the Ollama at OLLAMA_HOST=${env.OLLAMA_HOST}`);
  const server = await startOllama({ modelsDir, logFile: resolve(config.KORTIX_DATA_DIR, 'logs/ollama.log'), port, env });
  const openAiUrl = own ? server.openAiUrl : `${ollamaBaseUrl(env.OLLAMA_HOST as string)}/v1`;
  if (isGgufPath(configured)) {
    // Relative to where make dev was started (the repository root, for `make dev`).
    const file = resolve(configured);
    if (!existsSync(file) || !statSync(file).isFile()) {
      await server.stop();
      throw new Error(`LOCAL_MODEL=${configured}: no such GGUF file (${file})`);
    }
    const model = ggufModelName(file);
    say(`creating model "${model}" on the local server from ${file} (ollama create; the chat template is the file's own)`);
    await createModelFromFile(server.url, model, file).catch(async (err: unknown) => {
      await server.stop(); // make dev stops: no server of ours left behind
      throw err;
    });
    return { server, model, openAiUrl, ready: true };
  }
  const model = configured;
  if (model === TINY_MODEL_NAME) {
    await createTinyModel(server.url);
    // The same model as files, for `ollama create kortix-tiny -f <dir>/Modelfile` on any server.
    const dir = resolve(config.KORTIX_DATA_DIR, TINY_MODEL_NAME);
    mkdirSync(dir, { recursive: true });
    writeFileSync(resolve(dir, `${TINY_MODEL_NAME}.gguf`), tinyModelGguf());
    writeFileSync(resolve(dir, 'Modelfile'), tinyModelfile(`./${TINY_MODEL_NAME}.gguf`));
    say(`made ${TINY_MODEL_NAME} on the local server (random weights: the path is real, the words are noise); its GGUF and Modelfile are in ${dir}`);
    return { server, model, openAiUrl, ready: true };
  }
  const ready = await hasModel(server.url, model);
  if (!ready) say(pointAtRealModel(server.url, modelsDir, model));
  return { server, model, openAiUrl, ready };
}
