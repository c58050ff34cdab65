#!/bin/sh
# Entry point of the platform image (Dockerfile): the command names the role.
#
#   api | worker | migrate | mock-llm | tenant ...   a Kortix process
#   anything else                                   run as given (sh, node ...)
#
# Secrets come from files: for each of the variables below, VAR_FILE names a
# file (a compose secret under /run/secrets/) whose content becomes VAR.
set -eu

for name in DATABASE_URL OPENAI_API_KEY ANTHROPIC_API_KEY SLACK_BOT_TOKEN SLACK_SIGNING_SECRET VOTE_SIGNING_KEY; do
  file=$(printenv "${name}_FILE" || true)
  [ -n "$file" ] || continue
  if [ ! -r "$file" ]; then
    echo "${name}_FILE: cannot read $file" >&2
    exit 78 # EX_CONFIG, as config/index.ts
  fi
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done

# node runs as PID 1 (exec): SIGTERM from `docker stop` reaches its drain handlers.
run() { exec node --import tsx "$@"; }
role=${1:-api}
[ $# -eq 0 ] || shift
case "$role" in
  api) run api/main.ts "$@" ;;
  worker) run temporal/worker-main.ts "$@" ;;
  migrate) run db/migrate-main.ts "$@" ;;
  mock-llm) run mock-llm/main.ts "$@" ;;
  tenant) run scripts/tenant.ts "$@" ;;
  *) exec "$role" "$@" ;;
esac
