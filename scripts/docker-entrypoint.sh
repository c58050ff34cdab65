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
# The image holds compiled JavaScript (Dockerfile); a source tree runs the TypeScript through tsx.
run() {
  module=$1
  shift
  if [ -f "$module.js" ]; then exec node "$module.js" "$@"; fi
  exec node --import tsx "$module.ts" "$@"
}
role=${1:-api}
[ $# -eq 0 ] || shift
case "$role" in
  api) run api/main "$@" ;;
  worker) run temporal/worker-main "$@" ;;
  migrate) run db/migrate-main "$@" ;;
  mock-llm) run mock-llm/main "$@" ;;
  tenant) run scripts/tenant "$@" ;;
  *) exec "$role" "$@" ;;
esac
