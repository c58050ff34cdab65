/**
 * The SDK's reusable V8 context (the one a worker runs all its workflows in), loaded with a workflow bundle
 * without a worker or a server: a test or a bench creates workflows in it and looks at what each one loaded.
 * `newWorkflow` creates one (what it costs before its first line runs); `startSession` also runs a session's first
 * activation, no further: its activities never answer.
 */
import { runInContext, type Context } from 'node:vm';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm.js';
import type { PolicySnapshot } from '../../policies/load.js';
import type { AgentSessionInput } from '../../workflows/definitions.js';

export type ModuleCache = Map<string, { exports: Record<string, unknown> }>;
interface Created {
  activate(activation: unknown): Promise<unknown>;
  dispose(): Promise<void>;
}
interface Creator {
  createWorkflow(options: unknown): Promise<Created>;
  destroy(): Promise<void>;
  readonly context: Context & { __TEMPORAL_ACTIVATOR__?: { moduleCache: ModuleCache } };
}

export interface WorkflowContext {
  /** A new workflow in the context, and the module instances it loaded (its own; shared ones are not there). */
  newWorkflow(id: string): Promise<ModuleCache>;
  /**
   * A new `agentSession` workflow under `policy` given its first activation, as a worker gives it when the session
   * starts: it runs until it waits on its first activity. Answers the activation's completion (the commands it made).
   */
  startSession(id: string, policy: PolicySnapshot): Promise<unknown>;
  /** The latest workflow's next Math.random(), drawn inside the context as its code would. */
  random(): number;
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
  const load = (ReusableVMWorkflowCreator as unknown as { create(...args: unknown[]): Promise<Creator> }).create.bind(ReusableVMWorkflowCreator);
  const creator = await load(withSourceMap(bundleCode), 5000, new Set<string>());
  const created: Created[] = [];
  const create = async (id: string) => {
    const now = new Date(0);
    const workflow = await creator.createWorkflow({
      info: {
        workflowId: id, runId: `run-${id}`, firstExecutionRunId: `run-${id}`, workflowType: 'agentSession', taskQueue: 'q',
        namespace: 'default', attempt: 1, historyLength: 1, historySize: 0, continueAsNewSuggested: false, startTime: now,
        runStartTime: now, searchAttributes: {}, typedSearchAttributes: [], memo: {}, priority: {},
        unsafe: { isReplaying: false, now: () => 0 },
      },
      randomnessSeed: [1, 2],
      now: 0,
      showStackTraceSources: false,
    });
    created.push(workflow);
    return workflow;
  };
  return {
    async newWorkflow(id) {
      await create(id);
      const cache = creator.context.__TEMPORAL_ACTIVATOR__?.moduleCache;
      if (!cache) throw new Error('the workflow has no module cache');
      return cache;
    },
    async startSession(id, policy) {
      const input: AgentSessionInput = {
        session: { tenantId: 'acme', sessionId: id, createdAt: new Date(0).toISOString() },
        agent: 'default',
        requester: 'alice',
        policy,
        metadata: {},
        systemPrompt: 'You are an agent.',
        message: 'list the files',
        sandboxQueue: 'q',
      };
      // fromObject: numbers become the Longs the SDK expects, and each job gets its oneof `variant`.
      const activation = proto.coresdk.workflow_activation.WorkflowActivation.fromObject({
        runId: `run-${id}`,
        timestamp: { seconds: 1, nanos: 0 },
        isReplaying: false,
        historyLength: 3,
        historySizeBytes: 1_000,
        jobs: [{ initializeWorkflow: { workflowType: 'agentSession', workflowId: id, arguments: [defaultPayloadConverter.toPayload(input)], randomnessSeed: 7, attempt: 1 } }],
      });
      return (await create(id)).activate(activation);
    },
    random() {
      return runInContext('Math.random()', creator.context) as number;
    },
    async destroy() {
      for (const workflow of created.splice(0)) await workflow.dispose();
      await creator.destroy();
    },
  };
}
