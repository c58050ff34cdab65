/**
 * What every worker and every replay share: the data converter, the
 * interceptors and the workflow bundle. Replay in CI and `npm run replay` use
 * exactly these, so a history replays as production would run it.
 */
import { access, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger as TemporalLogger } from '@temporalio/common';
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { Resource } from '@opentelemetry/resources';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Tracing } from '../observability/tracing.js';
import { sessionLogInterceptors } from './session-log-interceptor.js';

/** The workflows entry file, bundled with webpack by the Temporal SDK. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Temporal's OpenTelemetry workflow interceptors, with Update handlers traced in replay too (see the file). */
export const WORKFLOW_INTERCEPTORS_PATH = fileURLToPath(new URL('../workflows/tracing-interceptors.ts', import.meta.url));

/** The shell parser, which all workflows of a worker share instead of loading one each (see the file). */
export const SHARED_MODULES_PATH = fileURLToPath(new URL('../workflows/shared-modules.ts', import.meta.url));

/** Drops shell-quote-word's unused Math.random draws at load, so that it can be shared (see the file). */
const SHELL_QUOTE_WORD_LOADER = fileURLToPath(new URL('./bundle/shell-quote-word-loader.cjs', import.meta.url));

/** Gives OpenTelemetry's workflow context manager a storage multiplexed over one (see the file). */
const OTEL_CONTEXT_LOADER = fileURLToPath(new URL('./bundle/otel-context-loader.cjs', import.meta.url));

/** The one storage under every workflow's OpenTelemetry context (workflows/shared-async-storage.ts). */
const SHARED_ASYNC_STORAGE_PATH = fileURLToPath(new URL('../workflows/shared-async-storage.ts', import.meta.url));

/**
 * Payloads are JSON, encrypted per tenant by the payload codec (temporal/codec/):
 * clients and workers build it with `payloadCodecFromConfig`, replays with `replayCodec`.
 */
export { kortixDataConverter } from './codec/from-config.js';

/**
 * Interceptors of workflows and activities: OpenTelemetry context flows from
 * the client's start through the workflow into each activity. Always on (and
 * in every bundle), so that replay runs the same code; without a tracing SDK
 * the spans go nowhere.
 */
export function workerInterceptors(): NonNullable<WorkerOptions['interceptors']> {
  return {
    workflowModules: [WORKFLOW_INTERCEPTORS_PATH],
    activity: [
      (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
      sessionLogInterceptors,
    ],
  };
}

/** The sink through which workflow code exports its spans (a no-op without tracing). */
export function workerSinks(tracing: Pick<Tracing, 'spanProcessor' | 'resource'> | undefined): NonNullable<WorkerOptions['sinks']> {
  return {
    exporter: makeWorkflowExporter(tracing?.spanProcessor ?? new NoopSpanProcessor(), tracing?.resource ?? Resource.empty()),
  } as NonNullable<WorkerOptions['sinks']>;
}

export type WorkflowBundle = { code: string };

/**
 * A prebuilt bundle for a worker, by its path: the SDK reads it once and hands it to its workflow threads, so the
 * worker's main thread keeps no copy of the 5 MB code (with `{ code }` it kept ours beside the SDK's own). An
 * unreadable file stops the start naming the variable.
 */
export async function workflowBundleAt(path: string): Promise<{ codePath: string }> {
  const codePath = resolve(path);
  await access(codePath).catch((err: unknown) => {
    throw new Error(`workflow bundle ${codePath} (WORKFLOW_BUNDLE_PATH) is not readable: ${(err as Error).message}`);
  });
  return { codePath };
}

/**
 * A prebuilt bundle (WORKFLOW_BUNDLE_PATH), or a fresh one from `workflowsPath`. `cacheDirectory`: webpack's
 * filesystem cache (it checks every input file), so a bundle of unchanged code takes ~3 s instead of ~16 s.
 */
export async function loadWorkflowBundle(
  options: {
    bundlePath?: string | undefined;
    workflowsPath?: string;
    logger?: TemporalLogger;
    cacheDirectory?: string;
    /** Off only for bench/workflow-footprint.ts's baseline: every workflow then loads its own shell parser. */
    shareModules?: boolean;
  } = {},
): Promise<WorkflowBundle> {
  if (options.bundlePath) return { code: await readFile(options.bundlePath, 'utf8') };
  const bundle = await bundleWorkflowCode({
    workflowsPath: options.workflowsPath ?? WORKFLOWS_PATH,
    workflowInterceptorModules: workerInterceptors().workflowModules ?? [],
    preloadModules: options.shareModules === false ? [] : [SHARED_MODULES_PATH],
    ...(options.logger ? { logger: options.logger } : {}),
    // The shell policy's parser (bash-parser, policies/shell-parse.ts) reads
    // `process.env.NODE_NEV` (workflow code has no `process`: fixed at bundle
    // time), and its generated grammars carry a CLI entry that requires fs and
    // path, never run in a bundle (ignored there only, so the SDK's check stays).
    // Its word splitter, shell-quote-word, goes through SHELL_QUOTE_WORD_LOADER.
    webpackConfigHook: (config) => ({
      ...config,
      module: {
        ...config.module,
        rules: [
          ...(config.module?.rules ?? []),
          { test: /[\\/]node_modules[\\/]shell-quote-word[\\/]index\.js$/, use: [{ loader: SHELL_QUOTE_WORD_LOADER }] },
          {
            test: /[\\/]@temporalio[\\/]interceptors-opentelemetry[\\/]lib[\\/]workflow[\\/]context-manager\.js$/,
            use: [{ loader: OTEL_CONTEXT_LOADER, options: { storage: SHARED_ASYNC_STORAGE_PATH } }],
          },
        ],
      },
      ...(options.cacheDirectory ? { cache: { type: 'filesystem' as const, cacheDirectory: options.cacheDirectory } } : {}),
      plugins: [
        ...(config.plugins ?? []),
        {
          apply: (compiler) => {
            new compiler.webpack.DefinePlugin({ 'process.env.NODE_NEV': JSON.stringify('production') }).apply(compiler);
            new compiler.webpack.IgnorePlugin({ resourceRegExp: /^(fs|path)$/, contextRegExp: /[\\/]@ericcornelissen[\\/]bash-parser[\\/]/ }).apply(compiler);
          },
        },
      ],
    }),
  });
  return { code: oneByteCode(bundle.code) };
}

/**
 * The bundle with every character above U+00FF written as a `\uXXXX` escape. V8 stores a string holding any such
 * character with two bytes per character: 62 of them (dashes and arrows in comments and messages) made the ~5 MB
 * code a ~10 MB string in each workflow thread, which keeps a script's source (~5 MB more than one byte each, the
 * thread's heap with a session-less bundle loaded: 17 against 12 MB). An escape means the same character in
 * the string, template, regular expression and identifier where these stand (and nothing in a comment); only the
 * source map's columns after one on its line shift. Exported for its test.
 */
export function oneByteCode(code: string): string {
  // A character escaped by an odd run of backslashes (`'\…'`, an identity escape) is the character: its backslash goes.
  const escaped = code.replace(/(\\*)([\u0100-\uffff])/g, (_, slashes: string, c: string) => `${slashes.slice(slashes.length % 2)}\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // replace() on a two-byte string answers a two-byte string whatever it holds; decoding Latin-1 makes a one-byte one
  // (a worker reads its bundle from a file, which decodes to one byte per character by itself).
  return Buffer.from(escaped, 'latin1').toString('latin1');
}
