/**
 * The SDK's reusable V8 context (the one a worker runs all its workflows in), loaded with a workflow bundle
 * without a worker or a server: a test or a bench creates workflows in it and looks at what each one loaded.
 * Workflows are created, not activated: what this shows is what a workflow costs before its first line runs.
 */
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm.js';

export type ModuleCache = Map<string, { exports: Record<string, unknown> }>;
interface Created {
  dispose(): Promise<void>;
}
interface Creator {
  createWorkflow(options: unknown): Promise<Created>;
  destroy(): Promise<void>;
  readonly context: { __TEMPORAL_ACTIVATOR__?: { moduleCache: ModuleCache } };
}

export interface WorkflowContext {
  /** A new workflow in the context, and the module instances it loaded (its own; shared ones are not there). */
  newWorkflow(id: string): Promise<ModuleCache>;
  /** Disposes every workflow created, then the context. */
  destroy(): Promise<void>;
}

/** Splits off the bundle's inline source map, as the SDK's worker does (the context wants both). */
function withSourceMap(code: string) {
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  if (at < 0) throw new Error('the workflow bundle has no inline source map');
  const base64 = code.slice(code.indexOf('base64,', at) + 'base64,'.length).trimEnd();
  return { code, sourceMap: JSON.parse(Buffer.from(base64, 'base64').toString()) as unknown, filename: '/workflow-bundle.js' };
}

export async function workflowContext(bundleCode: string): Promise<WorkflowContext> {
  const create = (ReusableVMWorkflowCreator as unknown as { create(...args: unknown[]): Promise<Creator> }).create.bind(ReusableVMWorkflowCreator);
  const creator = await create(withSourceMap(bundleCode), 5000, new Set<string>());
  const created: Created[] = [];
  return {
    async newWorkflow(id) {
      const now = new Date(0);
      created.push(
        await creator.createWorkflow({
          info: {
            workflowId: id, runId: `run-${id}`, firstExecutionRunId: `run-${id}`, workflowType: 'agentSession', taskQueue: 'q',
            namespace: 'default', attempt: 1, historyLength: 1, historySize: 0, continueAsNewSuggested: false, startTime: now,
            runStartTime: now, searchAttributes: {}, typedSearchAttributes: [], memo: {}, priority: {},
            unsafe: { isReplaying: false, now: () => 0 },
          },
          randomnessSeed: [1, 2],
          now: 0,
          showStackTraceSources: false,
        }),
      );
      const cache = creator.context.__TEMPORAL_ACTIVATOR__?.moduleCache;
      if (!cache) throw new Error('the workflow has no module cache');
      return cache;
    },
    async destroy() {
      for (const workflow of created.splice(0)) await workflow.dispose();
      await creator.destroy();
    },
  };
}
