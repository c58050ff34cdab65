/**
 * What every worker and every replay share: the data converter, the
 * interceptors and the workflow bundle. Replay in CI and `npm run replay` use
 * exactly these, so a history replays as production would run it.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { DataConverter, Logger as TemporalLogger } from '@temporalio/common';
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';

/** The workflows entry file, bundled with webpack by the Temporal SDK. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Payloads are plain JSON today; a codec (encryption) would be added here, once. */
export const dataConverter: DataConverter = {};

/** Interceptors of workflows and activities (tracing is added here). */
export function workerInterceptors(): NonNullable<WorkerOptions['interceptors']> {
  return { workflowModules: [], activity: [] };
}

export type WorkflowBundle = { code: string };

/** A prebuilt bundle (WORKFLOW_BUNDLE_PATH), or a fresh one from `workflowsPath`. */
export async function loadWorkflowBundle(
  options: { bundlePath?: string | undefined; workflowsPath?: string; logger?: TemporalLogger } = {},
): Promise<WorkflowBundle> {
  if (options.bundlePath) return { code: await readFile(options.bundlePath, 'utf8') };
  return bundleWorkflowCode({
    workflowsPath: options.workflowsPath ?? WORKFLOWS_PATH,
    workflowInterceptorModules: workerInterceptors().workflowModules ?? [],
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
