# The platform image: one image, the command picks the role
# (scripts/docker-entrypoint.sh):
#
#   docker run kortix/platform api        the HTTP API on API_HOST:API_PORT
#   docker run kortix/platform worker     a worker (health and metrics on WORKER_HEALTH_PORT, SDK metrics on WORKER_SDK_METRICS_PORT)
#   docker run kortix/platform migrate    database migrations
#
# Two stages. `build` installs every dependency, compiles the TypeScript that the
# entry points reach to JavaScript (tsc), builds the workflow bundle once (workers
# load it through WORKFLOW_BUNDLE_PATH instead of bundling at start), and prunes
# node_modules to the production dependencies. The final stage gets only that:
# compiled code, the files it reads (policies, scenarios, sandbox scripts), the
# production node_modules, and runs as the non-root user `node` (uid 1000).
#
# Online: `docker build -t kortix/platform:<version> .` (node:20-bookworm-slim).
# Offline (no registry): deploy/image/build.sh builds a Node base from a
# debootstrap Debian and puts the installed node_modules in the build context,
# as sandbox/build-image.sh does for the sandbox image.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY . .
# .dockerignore leaves node_modules out, so npm installs it from the lock file; an
# offline build (deploy/image/build.sh) puts the installed one in the context instead.
RUN [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
# The web console: web/dist, served by the API (api/web.ts); the loop below copies it to /app/web/dist with the other non-TS files.
RUN node node_modules/vite/bin/vite.js build web --logLevel warn
# The entry points and everything they import, nothing else (tests, benchmarks, scripts of dev),
# then the files the code reads at run time (policies, scenarios, sandbox scripts) beside it.
RUN node node_modules/typescript/bin/tsc -p deploy/image/tsconfig.json \
  && node --import tsx --input-type=module \
      -e "import { writeFileSync } from 'node:fs'; import { loadWorkflowBundle } from './temporal/worker-options.ts'; writeFileSync('/app/workflow-bundle.js', (await loadWorkflowBundle()).code);" \
  && for dir in */; do dir=${dir%/}; \
       case "$dir" in node_modules|test|bench|deploy|tools) continue ;; esac; \
       (cd "$dir" && find . -type f ! -name '*.ts' ! -name '*.tsx' -exec sh -c 'mkdir -p "/app/$0/$(dirname "$1")" && cp "$1" "/app/$0/$1"' "$dir" {} \;); \
     done \
  && npm prune --omit=dev --offline --no-audit --no-fund --loglevel=error \
  && cp -r node_modules package.json /app/ \
  && chmod 0755 /app/scripts/docker-entrypoint.sh

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    KORTIX_ENV=prod \
    API_HOST=0.0.0.0 \
    WORKER_HEALTH_HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_PATH=/app/workflow-bundle.js
# The node images have the user; a debootstrap base gets it here.
RUN id -u node >/dev/null 2>&1 || useradd --uid 1000 --user-group --no-create-home --home-dir /app node
COPY --from=build /app /app
# The data directory (KORTIX_DATA_DIR, /app/.data): the local object store lives there when OBJECT_STORE is
# not s3, and the API checks at start that it can write it. The code stays read-only to the runtime user.
RUN mkdir -p /app/.data && chown node:node /app/.data
# Not root. The worker talks to the Docker socket: give it the socket's group
# (compose: group_add), not root.
USER node
EXPOSE 8000 8001 9464
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["api"]
