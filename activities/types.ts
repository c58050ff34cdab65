/**
 * Inputs and outputs of activities: references and small summaries, never the
 * growing transcript, so that a session's history grows linearly with its steps.
 * Workflow code imports this file as types only.
 */
import type { SessionSecret } from '../domain/secret-binding.js';
import type { SessionPatch, NewEvent as StoredEvent } from '../db/session-records.js';
import type { SessionRef, SessionStatus, SessionUsage } from '../domain/session.js';
import type { SessionToolName } from '../policies/tool-names.js';
import type { ValidToolCall } from '../sandbox/tools.js';

export type { SessionPatch };

/**
 * An event as the workflow sends it (recordEvents): its key made in workflow code (`wf:<n>`), a plain
 * string in recorded histories, taken in by recordEvents only if it is of the one scheme (domain/events.ts).
 */
export type NewEvent = Omit<StoredEvent, 'key'> & { readonly key: string };

export interface StartSessionInput {
  readonly session: SessionRef;
  readonly agent: string;
  readonly requester: string;
  readonly policyName: string;
  readonly policyHash: string;
  readonly model: string | null;
  readonly metadata: Record<string, string>;
  readonly systemPrompt: string;
  readonly userMessage: string;
}

export interface LlmStepInput {
  readonly session: SessionRef;
  /** The assistant message this step writes; the transcript before it is the prompt. */
  readonly messageSeq: number;
  readonly step: number;
  readonly model?: string | undefined;
  readonly requestType?: string | undefined;
  readonly tools: readonly SessionToolName[];
  readonly metadata: Record<string, string>;
}

export interface ModelToolCall {
  readonly id: string;
  readonly name: string;
  /** Raw, as the model sent it: the workflow parses and may refuse it. */
  readonly arguments: string;
}

export interface LlmStepResult {
  readonly content: string | null;
  readonly toolCalls: readonly ModelToolCall[];
  readonly model: string;
  readonly provider: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
  /** The router's route, and how the answer came (absent in histories recorded before the router grew them). */
  readonly route?: string;
  readonly cacheHit?: boolean;
  readonly fallbackUsed?: boolean;
  /** The model a spent budget replaced. */
  readonly downgradedFrom?: string | null;
}

export interface UserMessageInput {
  readonly seq: number;
  readonly content: string;
  readonly from: string;
  /** Made by the workflow (`message:<seq>`), of the scheme of domain/events.ts; checked when written. */
  readonly eventKey: string;
}

/** A tool's answer as the model sees it (JSON in the tool message). */
export interface ToolResultPayload {
  readonly ok: boolean;
  readonly error?: string;
  readonly [field: string]: unknown;
}

export interface RecordToolResultInput {
  readonly session: SessionRef;
  readonly messageSeq: number;
  readonly toolCallId: string;
  readonly name: string;
  readonly result: ToolResultPayload;
  /** The step's `tool.decision` events, written before this result (workflows/session-tools.ts). */
  readonly decisions?: readonly NewEvent[] | undefined;
}

/** The sandbox a session holds: its container and the queue of the worker that owns it. */
export interface SandboxLease {
  readonly containerId: string;
  readonly hostId: string;
  readonly taskQueue: string;
}

/** The tarball artifact (of the session itself) a parked sandbox's workspace was saved to (workflows/session-park.ts). */
export interface ParkedWorkspace {
  readonly sha256: string;
  readonly bytes: number;
}

/** Parks the session's sandbox: its workspace saved under `ref`, then the container released. */
export interface ParkSandboxInput {
  readonly session: SessionRef;
  readonly ref: string;
}

/** Parked (the workspace saved, the sandbox gone), or kept and why (nothing changed). */
export type ParkSandboxResult = ({ readonly parked: true } & ParkedWorkspace) | { readonly parked: false; readonly reason: string };

export interface ClaimSandboxInput {
  readonly session: SessionRef;
  /** The session's own parked workspace: restored instead of its fromSession's. */
  readonly resume?: ParkedWorkspace | undefined;
  /** The hosts the session's policy lets it reach (`network.allow`); none: no network at all. */
  readonly network?: readonly string[] | undefined;
  /** Hosts reachable once approved (`network.approve`): the sandbox joins the egress network even when `network` is empty. */
  readonly approve?: readonly string[] | undefined;
  /** The session's secrets: each must exist; those bound to hosts are injected by the egress proxy. */
  readonly secrets?: readonly SessionSecret[] | undefined;
}

/** How a sandbox was claimed: recorded as `sandbox.claimed` with the first tool call that uses it. */
export interface SandboxClaimInfo {
  readonly created: boolean;
  readonly replacedStopped: boolean;
  readonly source: 'warm' | 'cold' | 'existing';
  readonly network: readonly string[];
  /** The parked workspace (its sha256) the claim restored. */
  readonly resumed?: string;
}

/** The sandbox a tool call was meant for, lost (its host went away): the call ran in a new one. */
export interface LostSandbox {
  readonly containerId: string;
  readonly hostId: string;
}

export interface ExecToolInput {
  readonly session: SessionRef;
  readonly lease: SandboxLease;
  readonly messageSeq: number;
  readonly toolCallId: string;
  readonly call: ValidToolCall;
  /** The same key on a retry: the tool's side effect happens once. */
  readonly idempotencyKey: string;
  /** Set when the session's sandbox was lost on the way: the model is told, with the result. */
  readonly lostSandbox?: LostSandbox | undefined;
  /**
   * Set on the first call after a claim. The claim's event is written with
   * this call's `tool.started`, so it follows the events the workflow wrote
   * before claiming (a gate's resolution) in the session's event log.
   */
  readonly claimed?: SandboxClaimInfo | undefined;
  /** The step's `tool.decision` events, written before the claim and `tool.started` (workflows/session-tools.ts). */
  readonly decisions?: readonly NewEvent[] | undefined;
  /** request_network only: who let the host through (the gate and its approvers, or the policy). */
  readonly grant?: { readonly gate: string | null; readonly grantedBy: string } | undefined;
  /** The session's secrets: every value is masked in the call's output before it is stored or shown. */
  readonly secrets?: readonly SessionSecret[] | undefined;
  /**
   * shell with `mount_secrets`, after its gate was approved: the files to write just before the command
   * and remove right after. A call that asks for mounts without this is refused, never run.
   */
  readonly mounts?: { readonly secrets: readonly { readonly name: string; readonly path: string }[]; readonly gate: string } | undefined;
}

/** What the workflow learns of a tool run (the output itself is in Postgres). */
export interface ToolOutcome {
  readonly ok: boolean;
  readonly exitCode?: number | null;
  readonly timedOut?: boolean;
  readonly outputBytes: number;
  /** browser: the page's URL after the action (the workflow judges the next browser actions on its host). */
  readonly pageUrl?: string;
}

export interface FinishSessionInput {
  readonly session: SessionRef;
  readonly status: SessionStatus;
  readonly finalAnswer: string | null;
  readonly error: string | null;
  readonly usage: SessionUsage;
  readonly step: number;
}
