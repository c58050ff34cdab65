/**
 * The agent session's public surface: its input, signals, query, update and
 * search attributes. Shared by the workflow and by clients (the API).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalVote, GateView } from '../domain/gate.js';
import type { SessionSecret } from '../domain/secret-binding.js';
import type { SessionRef, SessionStateView, SessionStatus, SessionUsage } from '../domain/session.js';
import type { PolicySnapshot } from '../policies/load.js';
import type { ParkedWorkspace } from '../activities/types.js';
import { SEARCH_ATTRIBUTES, SESSION_HANDLERS } from '../domain/temporal-names.js';

/** The gate types live in domain/gate.ts, the state view in domain/session.ts; re-exported for the clients that read them here. */
export type { ApprovalDecision, ApprovalVote, GateStatus, GateView } from '../domain/gate.js';
export type { SessionStateView } from '../domain/session.js';

export const TENANT_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.tenant, SearchAttributeType.KEYWORD);
export const AGENT_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.agent, SearchAttributeType.KEYWORD);
export const STATUS_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.status, SearchAttributeType.KEYWORD);

/** Knobs with production defaults; tests shorten them. Part of the input, so replay is exact. */
export interface SessionTuning {
  /** Continue-as-new once the history has this many events (or when Temporal suggests it). */
  readonly continueAsNewAfterEvents?: number;
  /** How soon a dead worker's model call or tool run is retried elsewhere. */
  readonly heartbeatTimeoutMs?: number;
  /** How long a sandbox host may stay away before its sandbox counts as lost. */
  readonly sandboxScheduleToStartMs?: number;
  /** Attempts of a model call before the session fails. */
  readonly llmMaxAttempts?: number;
  /** Model calls as local activities in the workflow's own worker (SESSION_LOCAL_MODEL_CALLS; workflows/session-patches.ts). */
  readonly localModelCalls?: boolean;
  /** A sandbox held while the session waits on people this long is parked (SESSION_SANDBOX_PARK_AFTER; workflows/session-park.ts). */
  readonly sandboxParkAfterMs?: number;
}

export interface AgentSessionInput {
  readonly session: SessionRef;
  readonly agent: string;
  /** The agent version (sha) the session pinned at start, when `agent` names a tenant agent (api/agent-versions.ts). */
  readonly agentVersion?: string | undefined;
  /** The principal who started the session: never an approver of its gates. */
  readonly requester: string;
  readonly policy: PolicySnapshot;
  readonly model?: string | undefined;
  readonly requestType?: string | undefined;
  readonly metadata: Record<string, string>;
  readonly systemPrompt: string;
  readonly message: string;
  /** After a final answer, wait this long for a follow-up message before completing (0: complete at once). */
  readonly idleTimeoutMs?: number | undefined;
  /** The shared sandbox queue on which claims go. */
  readonly sandboxQueue: string;
  readonly tuning?: SessionTuning | undefined;
  /** Secrets the session may use (names and bindings, never values); absent when none. */
  readonly secrets?: readonly SessionSecret[] | undefined;
  /** Set by continue-as-new: the state the previous run ended with. */
  readonly carry?: CarriedState | undefined;
}

/** A signal carrying a message from the user. */
export interface UserMessage {
  readonly content: string;
  readonly from: string;
  /** Optional client id: the same id twice is one message. */
  readonly id?: string | undefined;
}

export interface CancelRequest {
  readonly by: string;
  readonly reason?: string | undefined;
}

export interface ApprovalResult {
  readonly gate: GateView;
  /** False for a repeated vote of the same approver: it changes nothing. */
  readonly counted: boolean;
}

/** What a session ends with (the workflow's result). */
export interface SessionResult {
  readonly status: SessionStatus;
  readonly finalAnswer: string | null;
  readonly error: string | null;
  readonly usage: SessionUsage;
  readonly steps: number;
}

/** State carried across continue-as-new. */
export interface CarriedState {
  readonly step: number;
  readonly nextMessageSeq: number;
  readonly eventCounter: number;
  readonly usage: SessionUsage;
  readonly lease: { readonly containerId: string; readonly hostId: string; readonly taskQueue: string } | null;
  readonly pendingMessages: readonly UserMessage[];
  readonly seenMessageIds: readonly string[];
  /** The browser's page as the last browser result said (browser rules judge actions on it). */
  readonly pageUrl?: string | undefined;
  readonly lastAnswer: string | null;
  readonly run: number;
  /** A parked sandbox's workspace, restored by the next claim (workflows/session-park.ts). */
  readonly parked?: ParkedWorkspace | undefined;
  readonly parks?: number | undefined;
}

export const userMessageSignal = defineSignal<[UserMessage]>(SESSION_HANDLERS.userMessage);
export const approvalSignal = defineSignal<[ApprovalVote]>(SESSION_HANDLERS.approval);
export const cancelSignal = defineSignal<[CancelRequest]>(SESSION_HANDLERS.cancel);
export const stateQuery = defineQuery<SessionStateView>(SESSION_HANDLERS.state);
/** Like the approval signal, with a synchronous answer: a validator refuses votes that cannot count. */
export const approveUpdate = defineUpdate<ApprovalResult, [ApprovalVote]>(SESSION_HANDLERS.approve);
