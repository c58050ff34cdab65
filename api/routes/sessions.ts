/**
 * `/v1/sessions`: start, list, read, message, approve, cancel, stream events
 * and read the Temporal history of agent sessions. Every read and signal is
 * scoped to the caller's tenant: another tenant's session is a 404.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Hono } from 'hono';
import { z } from 'zod';
import { voteSigningKey, type Env } from '../../config/index.js';
import { temporalUiWorkflowUrl } from '../../config/temporal-ui.js';
import type { Db } from '../../db/client.js';
import { createSessionRow } from '../../db/session-records.js';
import { SESSION_ID_PATTERN, SESSION_STATUSES, TERMINAL_STATUSES, type SessionStatus, type SessionUsage } from '../../domain/session.js';
import { getSessionRow, listSessionRows, usageFromEvents } from '../../db/sessions-query.js';
import { gateOfRow, openGateRows } from '../../db/approvals.js';
import type { GateView } from '../../domain/gate.js';
import { missingRoles } from '../../workflows/gates.js';
import { tenantPolicySettings } from '../../db/tenant-policy-settings.js';
import { applyOverrides, snapshotPolicy, type PolicyStore } from '../../policies/load.js';
import { policyPermission } from '../../policies/permissions.js';
import { chatModelProblem } from '../../router/model-policy.js';
import { ModelPolicyStore, type PolicySource } from '../../router/policy-store.js';
import { taskQueues } from '../../domain/temporal-names.js';
import {
  cancelSignal,
  userMessageSignal,
  type AgentSessionInput,
  type SessionTuning,
} from '../../workflows/definitions.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import type { EventNotifier } from '../event-notifier.js';
import type { TenantLimiter } from '../limits.js';
import { parseBody, parseParams, parseQuery, text } from '../validation.js';
import { submitVote, voteRecorded } from '../votes.js';
import { policyRefSchema, resolvePolicyRef } from './policies.js';
import { pinSessionAgent, withPinnedVersion } from '../agent-versions.js';
import { sessionSecrets } from '../session-secrets.js';
import type { SecretProvider } from '../../secrets/provider.js';
import { agentReference, sessionLimitsSchema } from '../../agents/schema.js';
import { setWorkspaceSource } from '../../db/workspace-sources.js';
import { tenantSecretReferences } from '../../db/tenant-secrets.js';
import type { SessionStarter, StartOutcome } from '../session-starter.js';
import { resolveWorkspaceSource } from '../workspace-source.js';
import { markStage } from '../server-timing.js';

export const DEFAULT_SYSTEM_PROMPT =
  'You are Kortix, an agent working in a sandboxed Linux workspace at /workspace. Use the tools to act; ' +
  'some calls need human approval and may be denied, which you will see as the tool result. Answer concisely when done.';

const TERMINAL: ReadonlySet<SessionStatus> = new Set(TERMINAL_STATUSES);

const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, _ and -');

export const createSessionSchema = z
  .object({
    message: text().min(1).max(100_000),
    agent: agentReference.default('default'),
    /** A policy name, or a saved tenant policy's version (`mine@3`, `mine@<sha prefix>`; api/routes/policies.ts). */
    policy: policyRefSchema.optional(),
    model: text().min(1).max(100).optional(),
    requestType: slug.optional(),
    systemPrompt: text().min(1).max(20_000).optional(),
    metadata: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'keys of letters, digits, _ . -'), text().max(512))
      .refine((m) => Object.keys(m).length <= 32, 'at most 32 keys')
      .default({}),
    idleTimeoutSeconds: z.number().int().min(0).max(86_400).default(0),
    limits: sessionLimitsSchema.optional(),
    /** Start from the workspace a previous session of this tenant left (api/workspace-source.ts). */
    fromSession: z.string().regex(SESSION_ID_PATTERN, 'a session id (ses_...)').optional(),
  })
  .strict();

export const sessionIdParams = z.object({ id: z.string().regex(SESSION_ID_PATTERN, 'a session id (ses_...)') });

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
  status: z.enum(SESSION_STATUSES).optional(),
  agent: slug.optional(),
});

const messageSchema = z.object({ content: text().min(1).max(100_000), id: text().min(1).max(100).optional() }).strict();
const approvalSchema = z
  .object({ gateId: z.string().min(1).max(100), decision: z.enum(['approve', 'reject']), comment: text().max(2_000).optional() })
  .strict();
const cancelSchema = z.object({ reason: text().max(2_000).optional() }).strict();

export interface SessionRoutesDeps {
  readonly config: Pick<Env, 'TEMPORAL_NAMESPACE' | 'TEMPORAL_UI_URL' | 'TASK_QUEUE_PREFIX' | 'DEFAULT_POLICY' | 'MODEL_POLICY_FILE' | 'VOTE_SIGNING_KEY'>;
  readonly db: Db;
  /** The workers' model policy, to refuse an unknown `model` at the door (default: MODEL_POLICY_FILE, read once). */
  readonly modelPolicy?: PolicySource | undefined;
  readonly temporal: Client;
  readonly policies: PolicyStore;
  readonly notifier: EventNotifier;
  /** Fair sharing: sessions running at once and the idle-timeout cap, per tenant. */
  readonly limiter: TenantLimiter;
  /** Workflow knobs for every new session (tests shorten them). */
  readonly tuning?: SessionTuning | undefined;
  /** Checks the secret names a session references (the tenant's and its agent version's). */
  readonly secrets?: SecretProvider | undefined;
  /** Makes each new session's workflow start once its row is written (api/session-starter.ts). */
  readonly starter: SessionStarter;
}

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) {
    throw new ApiError(400, 'validation_failed', 'invalid cursor', [{ path: 'query.cursor', message: 'not a cursor from a previous page' }]);
  }
  return { createdAt, id };
}

type SessionRow = NonNullable<Awaited<ReturnType<typeof getSessionRow>>>;

/**
 * A signal to a session's workflow. A workflow not found is one whose start is still to be made (made now, then
 * sent again; 503 while Temporal does not take it) or one that has closed (the row not yet ended): a 409, as an
 * ended row is.
 */
async function ifRunning(send: () => Promise<void>, started: () => Promise<StartOutcome>): Promise<void> {
  const closed = () => new ApiError(409, 'session_closed', 'the session has ended');
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const outcome = await started();
  if (outcome === 'retrying') throw new ApiError(503, 'session_not_started', 'the session’s workflow is not started yet (Temporal did not accept it; it is retried): try again shortly');
  // `none` too is sent again: the start may have gone through between the first send and the look at its row.
  if (outcome === 'failed') throw closed();
  try {
    await send();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw closed();
    throw err;
  }
}

/** Where a session's parts are, in the API and in the Temporal Web UI. */
export function sessionLinks(config: Pick<Env, 'TEMPORAL_UI_URL' | 'TEMPORAL_NAMESPACE'>, id: string) {
  return {
    self: `/v1/sessions/${id}`,
    events: `/v1/sessions/${id}/events`,
    history: `/v1/sessions/${id}/history`,
    approvals: `/v1/sessions/${id}/approvals`,
    temporalUi: temporalUiWorkflowUrl(config, id),
  };
}

/** What a running session has done so far, read from Postgres (db/sessions-query.ts): its usage and open gates. */
export interface SessionProgress {
  readonly usage?: SessionUsage | undefined;
  readonly pendingApprovals?: readonly GateView[] | undefined;
}

/**
 * A session as the API answers it (GET /v1/sessions/:id, the list's items): the row, with a running session's usage
 * and open gates (the list: its usage only). The web console types its views with it.
 */
export function presentSession(row: SessionRow, progress: SessionProgress | null, links: ReturnType<typeof sessionLinks>) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agent: row.agent,
    agentVersion: row.agent_version,
    requester: row.requester,
    status: row.status,
    policy: { name: row.policy_name, hash: row.policy_hash },
    model: row.model,
    metadata: row.metadata,
    step: row.step,
    usage: progress?.usage ?? row.usage,
    finalAnswer: row.final_answer,
    error: row.error,
    pendingApprovals: progress?.pendingApprovals ?? [],
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    endedAt: row.ended_at?.toISOString() ?? null,
    links,
  };
}

/** The JSON of one session (what `presentSession` returns, as sent). */
export type SessionJson = ReturnType<typeof presentSession>;

export function sessionRoutes(deps: SessionRoutesDeps): Hono {
  const { db, temporal, config, starter } = deps;
  const queues = taskQueues(config.TASK_QUEUE_PREFIX);
  const modelPolicy = deps.modelPolicy ?? new ModelPolicyStore(config.MODEL_POLICY_FILE);
  const app = new Hono();

  const links = (id: string) => sessionLinks(config, id);

  async function ownedSession(tenantId: string, id: string) {
    const row = await getSessionRow(db, tenantId, id);
    if (!row) throw new ApiError(404, 'session_not_found', `no session ${id}`);
    return row;
  }

  const present = (row: SessionRow, progress?: SessionProgress) => presentSession(row, progress ?? null, links(row.id));

  app.post('/', async (c) => {
    // Server-Timing (api/server-timing.ts): where a slow start's time went, stage by stage.
    markStage(c, 'auth', 'middleware: tracing, API key, rate limit');
    const principal = c.get('principal');
    const request = await parseBody(c, createSessionSchema);
    // The lookups that need nothing but the request are asked for at once (each a database round trip, and under
    // load each waits its turn on the pool and the event loop), and awaited below in the order they were awaited
    // one after the other before: the first failing check still decides the answer.
    const lookups = {
      pinned: pinSessionAgent(db, principal.tenantId, request),
      policySettings: tenantPolicySettings(db, principal.tenantId),
      tenantSecretRefs: tenantSecretReferences(db, principal.tenantId),
      workspaceSource: resolveWorkspaceSource(db, principal.tenantId, request.fromSession),
    };
    // One that is never awaited (an earlier check failed) must not be an unhandled rejection.
    for (const lookup of Object.values(lookups)) lookup.catch(() => {});
    // A tenant agent's version decides prompt, model, policy and limits, and the session pins it (api/agent-versions.ts).
    const pinned = await lookups.pinned;
    const body = pinned ? withPinnedVersion(request, pinned) : request;
    const modelProblem = body.model === undefined ? undefined : chatModelProblem(modelPolicy.current, body.model);
    if (modelProblem) throw new ApiError(400, 'unknown_model', modelProblem, [{ path: 'body.model', message: 'unknown model' }]);
    // Which policies a principal may use is the tenant's decision (policies/permissions.ts).
    const policySettings = await lookups.policySettings;
    const policyRef = body.policy ?? policySettings.default ?? config.DEFAULT_POLICY;
    const policyName = policyRef.split('@')[0] ?? policyRef;
    const permission = policyPermission(policySettings, principal.roles, policyName);
    if (!permission.ok) throw new ApiError(403, permission.code, permission.message, [{ path: 'body.policy', message: permission.message }]);
    // Templates, file policies and the tenant's saved versions (newest, or the one named after @).
    const base = (await resolvePolicyRef(deps, principal.tenantId, policyRef))?.policy;
    if (!base) {
      throw new ApiError(400, 'unknown_policy', `no policy "${policyName}"; known: ${deps.policies.names(principal.tenantId).join(', ')}`, [
        { path: 'body.policy', message: 'unknown policy' },
      ]);
    }
    const snapshot = snapshotPolicy(
      pinned ? pinned.policyFor(base, body.limits) : applyOverrides(base, {
        maxSteps: body.limits?.maxSteps,
        maxCostUsd: body.limits?.maxCostUsd,
        approvalTimeoutMs: body.limits?.approvalTimeoutSeconds !== undefined ? body.limits.approvalTimeoutSeconds * 1000 : undefined,
      }),
    );
    // Every secret the session may use exists now, or the request is a 400 naming it.
    const secrets = await sessionSecrets(deps, principal.tenantId, pinned?.spec.secrets ?? [], lookups.tenantSecretRefs);
    const workspaceSource = await lookups.workspaceSource;
    markStage(c, 'lookups', 'body, agent, policy, secrets, workspace source');
    const id = `ses_${randomUUID()}`;
    const createdAt = new Date().toISOString();
    const session = { tenantId: principal.tenantId, sessionId: id, createdAt };
    const input: AgentSessionInput = {
      session,
      agent: body.agent,
      ...(pinned ? { agentVersion: pinned.sha } : {}),
      requester: principal.principal,
      policy: snapshot,
      model: body.model,
      requestType: body.requestType,
      metadata: body.metadata,
      systemPrompt: body.systemPrompt ?? DEFAULT_SYSTEM_PROMPT,
      message: body.message,
      idleTimeoutMs: body.idleTimeoutSeconds * 1000,
      sandboxQueue: queues.sandbox,
      tuning: deps.tuning,
      ...(secrets.length > 0 ? { secrets } : {}),
    };
    const start = starter.prepare(input);
    // The row's one writer (the workflow's startSession only writes into it): here, counted by the admission,
    // with the workflow's start in the outbox: the answer does not wait for Temporal (api/session-starter.ts).
    let created: SessionRow | undefined;
    await deps.limiter.admitSession(principal.tenantId, body.idleTimeoutSeconds, async (trx) => {
      created = await createSessionRow(trx, {
        id,
        tenantId: principal.tenantId,
        agent: body.agent,
        requester: principal.principal,
        policyName: snapshot.name,
        policyHash: snapshot.hash,
        model: body.model ?? null,
        metadata: body.metadata,
        createdAt,
        agentVersion: pinned?.sha ?? null,
      });
      if (workspaceSource) await setWorkspaceSource(trx, principal.tenantId, id, workspaceSource);
      await starter.enqueue(trx, start);
    });
    markStage(c, 'admit', 'the admission transaction: the row and its workflow start');
    starter.kick(start);
    // The row as inserted (read back only if the insert found the id taken, which a random id never is).
    const row = created ?? (await ownedSession(principal.tenantId, id));
    return c.json(present(row), 201, { location: `/v1/sessions/${id}` });
  });

  app.get('/', async (c) => {
    const { tenantId } = c.get('principal');
    const q = parseQuery(c, listQuery);
    const rows = await listSessionRows(db, tenantId, {
      limit: q.limit + 1,
      cursor: q.cursor ? decodeCursor(q.cursor) : undefined,
      status: q.status,
      agent: q.agent,
    });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    // Running sessions' usage so far (their rows get it at the end), in one query for the page; open gates are GET's.
    const usage = await usageFromEvents(db, tenantId, page.filter((row) => !TERMINAL.has(row.status)));
    return c.json({
      data: page.map((row) => present(row, { usage: usage.get(row.id) })),
      nextCursor: rows.length > q.limit && last ? encodeCursor(last.created_at, last.id) : null,
    });
  });

  // Answered from Postgres alone: the row, the events and the gates the workflow writes (with the events that
  // change them, in one transaction). No query reaches the workflow, so a look at a session costs its worker
  // nothing (no workflow task, no replay of an evicted workflow), does not wait behind a model call run as a local
  // activity, and answers while no worker runs. A vote through this API is in these tables when its answer returns
  // (POST /:id/approvals below); what the workflow decided since its last write shows with its next one.
  app.get('/:id', async (c) => {
    const { tenantId } = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    const row = await ownedSession(tenantId, id);
    if (TERMINAL.has(row.status)) return c.json(present(row));
    const [usage, gates] = await Promise.all([usageFromEvents(db, tenantId, [row]), openGateRows(db, tenantId, id)]);
    const pendingApprovals = gates.map((g) => {
      const gate = gateOfRow(g);
      return { ...gate, missingRoles: missingRoles(gate) };
    });
    return c.json(present(row, { usage: usage.get(id), pendingApprovals }));
  });

  app.post('/:id/messages', async (c) => {
    const principal = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    const body = await parseBody(c, messageSchema);
    const row = await ownedSession(principal.tenantId, id);
    if (TERMINAL.has(row.status)) throw new ApiError(409, 'session_closed', `the session is ${row.status}`);
    await ifRunning(
      () => temporal.workflow.getHandle(id).signal(userMessageSignal, { content: body.content, from: principal.principal, id: body.id }),
      () => starter.ensureStarted(principal.tenantId, id),
    );
    return c.json({ accepted: true }, 202);
  });

  app.post('/:id/approvals', async (c) => {
    const principal = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    const body = await parseBody(c, approvalSchema);
    await ownedSession(principal.tenantId, id);
    const target = { tenantId: principal.tenantId, sessionId: id };
    // Answered once the vote is in Postgres too (or after 5 s), so that the voter's next GET shows it.
    const result = await voteRecorded({ db, notifier: deps.notifier }, target, () =>
      submitVote({ db, temporal, voteKey: voteSigningKey(config) }, target, {
        gateId: body.gateId,
        approver: principal.principal,
        roles: principal.roles,
        decision: body.decision,
        channel: 'api',
        comment: body.comment,
      }),
    );
    return c.json(result);
  });

  app.post('/:id/cancel', async (c) => {
    const principal = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    const body = await parseBody(c, cancelSchema);
    const row = await ownedSession(principal.tenantId, id);
    if (TERMINAL.has(row.status)) throw new ApiError(409, 'session_closed', `the session is already ${row.status}`);
    await ifRunning(
      () => temporal.workflow.getHandle(id).signal(cancelSignal, { by: principal.principal, reason: body.reason }),
      () => starter.ensureStarted(principal.tenantId, id),
    );
    return c.json({ accepted: true }, 202);
  });

  // GET /:id/history and /:id/events: api/routes/history.ts and api/routes/events.ts.

  return app;
}

const usageSchema = z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number(), llmCalls: z.number(), toolCalls: z.number() });
const gateViewSchema = z.record(z.string(), z.unknown()).describe('an open approval gate (workflows/definitions.ts GateView)');
/** What the session routes answer (present() above). */
export const sessionViewSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  agent: z.string(),
  requester: z.string(),
  status: z.string(),
  policy: z.object({ name: z.string(), hash: z.string() }),
  model: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
  step: z.number().int(),
  usage: usageSchema,
  finalAnswer: z.string().nullable(),
  error: z.string().nullable(),
  pendingApprovals: z.array(gateViewSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
  endedAt: z.string().nullable(),
  links: z.record(z.string(), z.string()),
});
const accepted = { 202: { description: 'accepted', schema: z.object({ accepted: z.literal(true) }) }, 404: { description: 'session_not_found' }, 409: { description: 'session_closed' }, 503: { description: 'session_not_started: its workflow start is still being retried' } };

export const sessionRouteDocs: readonly RouteDoc[] = [
  { method: 'post', path: '/v1/sessions', operationId: 'startSession', summary: 'Start an agent session under a policy the tenant allows (answered once the session is stored; its workflow starts right after)', tag: 'sessions', body: createSessionSchema, responses: { 201: { description: 'created; its workflow starts after the answer', schema: sessionViewSchema }, 403: { description: 'policy_not_allowed | policy_needs_role' } } },
  { method: 'get', path: '/v1/sessions', operationId: 'listSessions', summary: 'The tenant’s sessions, newest first', tag: 'sessions', query: listQuery, responses: { 200: { description: 'a page', schema: z.object({ data: z.array(sessionViewSchema), nextCursor: z.string().nullable() }) } } },
  { method: 'get', path: '/v1/sessions/:id', operationId: 'getSession', summary: 'A session: its row and, while it runs, its usage so far and open gates (read from Postgres, never from the workflow)', tag: 'sessions', params: sessionIdParams, responses: { 200: { description: 'the session', schema: sessionViewSchema }, 404: { description: 'session_not_found' } } },
  { method: 'post', path: '/v1/sessions/:id/messages', operationId: 'sendMessage', summary: 'Send a follow-up message', tag: 'sessions', params: sessionIdParams, body: messageSchema, responses: accepted },
  { method: 'post', path: '/v1/sessions/:id/approvals', operationId: 'voteOnGate', summary: 'Approve or reject an open gate (never the requester)', tag: 'approvals', params: sessionIdParams, body: approvalSchema, responses: { 200: { description: 'the vote and the gate', schema: z.object({ gate: gateViewSchema, counted: z.boolean() }) }, 403: { description: 'not allowed to vote' }, 409: { description: 'gate closed' } } },
  { method: 'post', path: '/v1/sessions/:id/cancel', operationId: 'cancelSession', summary: 'Cancel a session, whatever it waits on', tag: 'sessions', params: sessionIdParams, body: cancelSchema, responses: accepted },
];
