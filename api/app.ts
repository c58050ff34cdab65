/**
 * The HTTP API (Hono): one error path, request metrics by route template,
 * tenant authentication on /v1, health and metrics endpoints outside it.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Client } from '@temporalio/client';
import { codecLoginKey, voteSigningKey, type Env } from '../config/index.js';
import type { Db } from '../db/client.js';
import { apiKeyActive, authenticate } from '../db/tenants.js';
import type { ReadinessChecker } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../policies/load.js';
import { cachedModelEndpoints, probeModelEndpoints, type ModelEndpointStatus } from '../router/endpoint-status.js';
import { ModelPolicyStore, type PolicySource } from '../router/policy-store.js';
import type { SessionTuning } from '../workflows/definitions.js';
import { apiDocument } from './api-document.js';
import { tenantAuth } from './auth.js';
import { requestTracing } from './request-tracing.js';
import { serverTiming } from './server-timing.js';
import { ApiError, errorBody, onApiError } from './errors.js';
import type { EventNotifier } from './event-notifier.js';
import { TenantLimiter } from './limits.js';
import { agentRoutes, agentTemplateRoutes } from './routes/agents.js';
import { approvalRoutes } from './routes/approvals.js';
import { codecRoutes } from './routes/codec.js';
import { codecCookieAuth, codecCors, codecLoginRoutes } from './codec-login.js';
import { costRoutes } from './routes/cost.js';
import { eventRoutes } from './routes/events.js';
import { historyRoutes } from './routes/history.js';
import { artifactRoutes } from './routes/artifacts.js';
import type { Artifacts } from '../storage/artifacts.js';
import { policyRoutes } from './routes/policies.js';
import { replayRoutes } from './routes/replay.js';
import { sessionRoutes } from './routes/sessions.js';
import { SessionStarter } from './session-starter.js';
import { taskQueues } from '../domain/temporal-names.js';
import { secretRoutes } from './routes/secrets.js';
import { apiSecretProvider } from './session-secrets.js';
import type { SecretProvider } from '../secrets/provider.js';
import { slackRoutes } from './routes/slack.js';
import { webRoutes } from './web.js';
import type { Secret } from '../config/secret.js';
import type { TenantLimitConfig } from '../db/tenant-limits.js';
import { SlackUserMap } from '../slack/users.js';
import { payloadCodecFromConfig, type CodecConfig } from '../temporal/codec/from-config.js';
import type { TenantPayloadCodec } from '../temporal/codec/payload-codec.js';

export interface ApiDeps {
  readonly config: Pick<Env, 'TEMPORAL_NAMESPACE' | 'TEMPORAL_UI_URL' | 'TASK_QUEUE_PREFIX' | 'DEFAULT_POLICY' | 'API_BODY_LIMIT_BYTES' | 'MODEL_POLICY_FILE' | 'VOTE_SIGNING_KEY' | 'WORKFLOW_BUNDLE_PATH' | 'CODEC_LOGIN_KEY' | 'CODEC_LOGIN_TTL' | 'PUBLIC_API_URL'> & Partial<Pick<Env, 'LOCAL_MODEL' | 'SESSION_START_DEADLINE'>> & TenantLimitConfig & CodecConfig;
  readonly db: Db;
  /** The model policy requested models are checked against (default: MODEL_POLICY_FILE, read once). */
  readonly modelPolicy?: PolicySource | undefined;
  readonly temporal: Client;
  readonly policies: PolicyStore;
  readonly notifier: EventNotifier;
  readonly metrics: Metrics;
  readonly readiness: ReadinessChecker;
  readonly logger: Logger;
  readonly tuning?: SessionTuning | undefined;
  /** Where secret names are checked (default: the configuration's SECRETS_PROVIDER). */
  readonly secrets?: SecretProvider | undefined;
  /** Slack interactivity: the signing secret and who each Slack user is. */
  readonly slack?: { signingSecret?: Secret | undefined; users: SlackUserMap } | undefined;
  /** True while the process drains: /readyz answers 503 so that load balancers stop sending. */
  readonly draining?: () => boolean;
  /** The payload codec behind /v1/codec (default: from the configuration); the API's Temporal client should share it. */
  readonly codec?: TenantPayloadCodec | undefined;
  /** Each model endpoint for /readyz (default: probes of the model policy's endpoints, router/endpoint-status.ts). */
  readonly modelEndpoints?: (() => Promise<readonly ModelEndpointStatus[]>) | undefined;
  /** A session's artifacts (downloads, fromSession); without it the routes list rows but answer 503 for bytes. */
  readonly artifacts?: Artifacts | undefined;
  /** Starts new sessions' workflows after their POST answered (default: one of this app's own, without a sweep). */
  readonly starter?: SessionStarter | undefined;
}

export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();
  const { metrics, logger } = deps;

  // Outermost: a route's Server-Timing `total` and first stage include the tracing, metrics and auth middleware.
  app.use('*', serverTiming());
  app.use('*', requestTracing(logger));
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    // The matched route template, never the raw path: label values stay bounded.
    const route = c.req.routePath === '/*' || !c.req.routePath ? 'unmatched' : c.req.routePath;
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    metrics.httpLatency.observe({ route }, (performance.now() - started) / 1000);
  });

  app.onError(onApiError((err, c) => logger.error('request failed', { err, method: c.req.method, path: c.req.path })));
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.get('/healthz', (c) => c.json({ ok: true }));
  // Model endpoints are reported beside readiness, never gating it: a model down is what fallbacks are for.
  let endpointPolicy = deps.modelPolicy;
  const modelEndpoints =
    deps.modelEndpoints ??
    cachedModelEndpoints(() => {
      endpointPolicy ??= new ModelPolicyStore(deps.config.MODEL_POLICY_FILE, undefined, { LOCAL_MODEL: deps.config.LOCAL_MODEL });
      return probeModelEndpoints(endpointPolicy.current, { env: deps.config });
    });
  app.get('/readyz', async (c) => {
    const [report, models] = await Promise.all([deps.readiness.check(), modelEndpoints().catch(() => [])]);
    const draining = deps.draining?.() ?? false;
    const ready = report.ready && !draining;
    return c.json({ ...report, ready, draining, models }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }));
  // Public, like /healthz: clients generate their types from it before they hold a key.
  app.get('/v1/openapi.json', (c) => c.json(apiDocument()));

  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: deps.config.API_BODY_LIMIT_BYTES,
      onError: () => {
        throw new ApiError(413, 'body_too_large', `request bodies are limited to ${deps.config.API_BODY_LIMIT_BYTES} bytes`);
      },
    }),
  );
  // Slack signs its requests: this route is outside tenant-key authentication.
  app.route(
    '/v1/integrations/slack',
    slackRoutes({
      db: deps.db,
      temporal: deps.temporal,
      voteKey: voteSigningKey(deps.config),
      signingSecret: deps.slack?.signingSecret,
      users: deps.slack?.users ?? new SlackUserMap({}),
      logger,
    }),
  );
  // The codec endpoint is called by the Temporal Web UI from its own origin, with credentials (api/codec-login.ts):
  // the preflight is answered before authentication, and the login cookie stands in for the tenant headers.
  const uiOrigin = new URL(deps.config.TEMPORAL_UI_URL).origin;
  const loginKey = codecLoginKey(deps.config);
  app.use('/v1/codec/*', codecCors(uiOrigin));
  for (const path of ['/v1/codec/decode', '/v1/codec/encode', '/v1/codec/logout']) app.use(path, codecCookieAuth({ key: loginKey, uiOrigin, keyActive: (tenantId, keyId) => apiKeyActive(deps.db, tenantId, keyId) }));
  app.use('/v1/*', tenantAuth({ authenticate: (tenantId, key) => authenticate(deps.db, tenantId, key) }));
  // Fair sharing per tenant (api/limits.ts): requests per second here, sessions and streams in their routes.
  const limiter = new TenantLimiter({ db: deps.db, config: deps.config });
  app.use('/v1/*', limiter.rateLimit());
  app.route('/v1/sessions', eventRoutes({ ...deps, limiter }));
  const codec = deps.codec ?? payloadCodecFromConfig(deps.config, deps.db);
  const starter =
    deps.starter ??
    new SessionStarter({
      db: deps.db,
      temporal: deps.temporal,
      sessionsQueue: taskQueues(deps.config.TASK_QUEUE_PREFIX).sessions,
      codec,
      deadlineMs: deps.config.SESSION_START_DEADLINE,
      logger,
      metrics: deps.metrics,
    });
  app.route('/v1/sessions', historyRoutes({ ...deps, codec, starter }));
  app.route('/v1/sessions', artifactRoutes({ db: deps.db, artifacts: deps.artifacts }));
  const secrets = deps.secrets ?? apiSecretProvider(deps.config);
  app.route('/v1/sessions', sessionRoutes({ ...deps, limiter, secrets, starter }));
  app.route('/v1/secrets', secretRoutes({ db: deps.db, secrets }));
  app.route('/v1/approvals', approvalRoutes(deps));
  app.route('/v1/agents', agentRoutes({ ...deps, secrets }));
  app.route('/v1/agent-templates', agentTemplateRoutes());
  app.route('/v1/policies', policyRoutes(deps));
  app.route('/v1', costRoutes(deps));
  app.route('/v1', replayRoutes(deps));
  app.route('/v1/codec', codecRoutes({ config: deps.config, codec }));
  app.route('/v1/codec', codecLoginRoutes({ key: loginKey, ttlMs: deps.config.CODEC_LOGIN_TTL, uiOrigin, secure: deps.config.KORTIX_ENV === 'prod' || (deps.config.PUBLIC_API_URL?.startsWith('https:') ?? false) }));
  // The web console (api/web.ts), when built: every other GET outside /v1.
  const web = webRoutes();
  if (web) app.route('/', web);
  return app;
}
