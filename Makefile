# Kortix 2.0 — two commands on a fresh machine:
#   make dev    run the platform on embedded defaults (Temporal dev server, Postgres, Docker, mock LLM, worker, API)
#   make test   run lint, types and the whole suite against real Temporal, Postgres and Docker
# Both install what is missing and say what they do.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help install dev cluster test test-unit test-integration test-replay test-cluster lint provision bench record-histories clean

NODE_MAJOR_REQUIRED := 20

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

node_modules/.package-lock.json: package.json package-lock.json
	@command -v node >/dev/null || { echo "[make] Node.js $(NODE_MAJOR_REQUIRED) is required (node not found)"; exit 1; }
	@v=$$(node -p 'process.versions.node.split(".")[0]'); [ "$$v" -ge $(NODE_MAJOR_REQUIRED) ] || { echo "[make] Node.js >= $(NODE_MAJOR_REQUIRED) is required, found $$v"; exit 1; }
	@echo "[make] installing npm dependencies (npm ci)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.package-lock.json ## install npm dependencies when package-lock.json changed

dev: install ## run the platform on embedded defaults; Ctrl-C stops it
	@./node_modules/.bin/tsx scripts/dev.ts

provision: install ## make sure the Temporal CLI and server, the Docker engine, the sandbox image, Postgres, the Prometheus tools and Ollama are there
	@eval "$$(scripts/provision/temporal.sh)" && eval "$$(scripts/provision/temporal-server.sh)" && eval "$$(scripts/provision/docker.sh)" && eval "$$(scripts/provision/postgres.sh)" && eval "$$(scripts/provision/prometheus.sh)" && eval "$$(scripts/provision/ollama.sh)" && echo "[make] provisioned: Temporal CLI ($$TEMPORAL_CLI_SOURCE), Temporal server ($$TEMPORAL_SERVER_SOURCE), Docker, Postgres ($$DATABASE_SOURCE), promtool/prometheus/amtool/docker-compose, Ollama ($$OLLAMA_SOURCE)"

cluster: install ## the production shape here: Temporal on Postgres (4 service processes), 2 worker hosts, 2 APIs, the Web UI; Ctrl-C stops it
	@./node_modules/.bin/tsx scripts/cluster.ts $(CLUSTER_ARGS)

lint: install ## eslint (determinism rules on workflows/) and tsc
	@echo "[make] lint: eslint and tsc --noEmit"
	@npx eslint . && npx tsc --noEmit && npx tsc --noEmit -p web

test: install ## lint, then every test tier against real Temporal, Postgres and Docker
	@set -e; \
	eval "$$(scripts/provision/temporal.sh)"; \
	eval "$$(scripts/provision/temporal-server.sh)"; \
	eval "$$(scripts/provision/docker.sh)"; \
	eval "$$(scripts/provision/postgres.sh)"; \
	eval "$$(scripts/provision/prometheus.sh)"; \
	eval "$$(scripts/provision/chromium.sh)"; \
	eval "$$(scripts/provision/ollama.sh)"; \
	eval "$$(scripts/provision/s3.sh)"; \
	$(MAKE) --no-print-directory lint; \
	echo "[make] tests: unit, integration (real Temporal $$TEMPORAL_CLI_SOURCE, Postgres $$DATABASE_SOURCE, Docker, S3 $$S3_SOURCE), cluster (Temporal server $$TEMPORAL_SERVER_SOURCE), replay"; \
	npx vitest run

test-unit: install ## unit tests only (no services; promtool, amtool and docker-compose check the observability files)
	@set -e; eval "$$(scripts/provision/prometheus.sh)"; npx vitest run --project unit

test-integration: install ## integration tests only
	@set -e; eval "$$(scripts/provision/temporal.sh)"; eval "$$(scripts/provision/docker.sh)"; eval "$$(scripts/provision/postgres.sh)"; eval "$$(scripts/provision/prometheus.sh)"; eval "$$(scripts/provision/chromium.sh)"; eval "$$(scripts/provision/ollama.sh)"; eval "$$(scripts/provision/s3.sh)"; npx vitest run --project integration

test-cluster: install ## the cluster tests: sessions through worker-host, history-service and API-instance failures
	@set -e; eval "$$(scripts/provision/temporal-server.sh)"; eval "$$(scripts/provision/docker.sh)"; eval "$$(scripts/provision/postgres.sh)"; npx vitest run --project cluster

test-replay: install ## replay the recorded histories against the current workflow code
	@npx vitest run --project replay

record-histories: install ## record fresh histories into test/histories/ from real runs
	@set -e; eval "$$(scripts/provision/temporal.sh)"; eval "$$(scripts/provision/docker.sh)"; eval "$$(scripts/provision/postgres.sh)"; npx tsx scripts/record-histories.ts

bench: install ## run the benchmarks; results in bench/results/*.json
	@set -e; eval "$$(scripts/provision/temporal.sh)"; eval "$$(scripts/provision/docker.sh)"; eval "$$(scripts/provision/postgres.sh)"; eval "$$(scripts/provision/ollama.sh)"; npx tsx bench/run.ts

clean: ## stop the embedded Postgres and remove .data/ (Temporal state, Postgres data, logs)
	@scripts/provision/postgres.sh stop >/dev/null || true
	@rm -rf .data
