/**
 * The session's run: its first records, then model steps until a final
 * answer or a limit, taking the user's messages between steps, and a
 * continue-as-new when the history grows long with no gate open.
 */
import { CancellationScope, allHandlersFinished, condition, continueAsNew, patched, workflowInfo } from '@temporalio/workflow';
import { offeredTools } from '../policies/evaluate.js';
import type { AgentSessionInput, SessionResult } from './definitions.js';
import type { Ending } from './session-end.js';
import { LOCAL_MODEL_CALLS_PATCH, SLACK_SETTLED_BEFORE_END_PATCH, SLACK_SETTLE_WAIT } from './session-patches.js';
import { parkDelay, waitParking } from './session-park.js';
import type { SessionState } from './session-state.js';
import { SessionTools } from './session-tools.js';

const DEFAULT_CONTINUE_AS_NEW_AFTER = 10_000;

export class SessionLoop {
  readonly #tools: SessionTools;

  constructor(private readonly state: SessionState) {
    this.#tools = new SessionTools(state);
  }

  /**
   * The start and the loop, in the scope that a cancel (or an event write failed for good) cancels.
   * Not async: the caller awaits the scope's own promise, as the recorded sessions did.
   */
  run(): Promise<Ending> {
    const s = this.state;
    const scope = new CancellationScope();
    s.loopScope = scope;
    // A cancel that came before the scope existed.
    if (s.cancelRequest) scope.cancel();
    return scope.run(async () => {
      await this.start();
      return this.loop();
    });
  }

  /** The session's first records: in the loop's scope, so that a cancel also stops a first write that keeps failing. */
  private async start(): Promise<void> {
    const { input, session, snapshot } = this.state;
    if (input.carry) return;
    await this.state.activities.store.startSession({
      session,
      agent: input.agent,
      requester: input.requester,
      policyName: snapshot.name,
      policyHash: snapshot.hash,
      model: input.model ?? null,
      metadata: input.metadata,
      systemPrompt: input.systemPrompt,
      userMessage: input.message,
    });
  }

  private async loop(): Promise<Ending> {
    const s = this.state;
    const { input, policy } = s;
    for (;;) {
      if (this.shouldContinueAsNew()) {
        await condition(allHandlersFinished);
        if (!s.slackSync.idle && patched(SLACK_SETTLED_BEFORE_END_PATCH)) await condition(() => s.slackSync.idle, SLACK_SETTLE_WAIT);
        await s.outbox.flush();
        await continueAsNew<(input: AgentSessionInput) => Promise<SessionResult>>({ ...input, carry: s.carried() });
      }
      await this.takeUserMessages();
      if (s.step >= policy.limits.maxSteps) {
        return { status: 'max_steps', finalAnswer: s.lastAnswer, error: `stopped after ${s.step} steps (limit ${policy.limits.maxSteps})` };
      }
      if (s.usage.costUsd >= policy.limits.maxCostUsd) {
        return { status: 'max_cost', finalAnswer: s.lastAnswer, error: `stopped at $${s.usage.costUsd.toFixed(6)} (limit $${policy.limits.maxCostUsd})` };
      }
      s.step += 1;
      const llm = input.tuning?.localModelCalls && patched(LOCAL_MODEL_CALLS_PATCH) ? s.activities.llmLocal : s.activities.llm;
      const answer = await llm.llmStep({
        session: s.session,
        messageSeq: s.takeMessageSeq(),
        step: s.step,
        model: input.model,
        requestType: input.requestType,
        tools: offeredTools(policy),
        metadata: input.metadata,
      });
      s.usage.inputTokens += answer.inputTokens;
      s.usage.outputTokens += answer.outputTokens;
      s.usage.costUsd = Math.round((s.usage.costUsd + answer.costUsd) * 1e8) / 1e8;
      s.usage.llmCalls += 1;
      if (answer.toolCalls.length > 0) {
        await this.#tools.handle(answer.toolCalls);
        continue;
      }
      s.lastAnswer = answer.content;
      if (s.pendingMessages.length > 0) continue;
      const idle = input.idleTimeoutMs ?? 0;
      // A long wait for a follow-up message parks the sandbox (workflows/session-park.ts); recorded sessions wait as before.
      const parkAfter = idle > 0 ? parkDelay(s, idle) : undefined;
      const message = () => s.pendingMessages.length > 0;
      if (idle > 0 && (parkAfter === undefined ? await condition(message, idle) : await waitParking(s, message, idle, parkAfter))) continue;
      return { status: 'completed', finalAnswer: answer.content, error: null };
    }
  }

  private async takeUserMessages(): Promise<void> {
    const s = this.state;
    if (s.pendingMessages.length === 0) return;
    await s.activities.store.appendUserMessages({ session: s.session, messages: s.takeUserMessages() });
  }

  private shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    const limit = this.state.input.tuning?.continueAsNewAfterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER;
    return (info.continueAsNewSuggested || info.historyLength >= limit) && !this.state.anyGateOpen();
  }
}
