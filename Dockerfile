# The platform image: one image, the command picks the role
# (scripts/docker-entrypoint.sh):
#
#   docker run kortix/platform api        the HTTP API on API_HOST:API_PORT
#   docker run kortix/platform worker     a worker (health and metrics on WORKER_HEALTH_PORT, SDK metrics on WORKER_SDK_METRICS_PORT)
#   docker run kortix/platform migrate    database migrations
#
# TypeScript runs through tsx's loader, exactly as in `make dev` and the tests.
# The workflow bundle is built here once; workers load it (WORKFLOW_BUNDLE_PATH)
# instead of bundling at start. Configuration: environment variables
# (config/index.ts); secrets as VAR_FILE (see the entrypoint).
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

WORKDIR /app
ENV NODE_ENV=production \
    KORTIX_ENV=prod \
    API_HOST=0.0.0.0 \
    WORKER_HEALTH_HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_PATH=/app/workflow-bundle.js

# Dependencies first: this layer is rebuilt only when the lock file changes.
# Dev dependencies too (NODE_ENV=production would leave them out): tsx, the loader, is one.
COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund --loglevel=error && npm cache clean --force

COPY . .
RUN node --import tsx --input-type=module \
      -e "import { writeFileSync } from 'node:fs'; import { loadWorkflowBundle } from './temporal/worker-options.ts'; writeFileSync(process.env.WORKFLOW_BUNDLE_PATH, (await loadWorkflowBundle()).code);" \
  && chmod 0755 scripts/docker-entrypoint.sh

# Not root. The worker talks to the Docker socket: give it the socket's group
# (compose: group_add), not root.
USER node
EXPOSE 8000 8001 9464
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["api"]
