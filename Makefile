# `make demo` and `make test` each build .venv/ on a fresh machine first (torch's CPU wheel before
# everything else, so no CUDA build is pulled), then run. The `academy` command is .venv/bin/academy.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser postgres demo test serve lint format bench clean up down

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

# Headless Chromium + chromedriver (Debian packages) for the dashboard's browser test; installed with
# apt-get when missing, skipped with a message where that is impossible (the test then skips itself).
browser:
	bash scripts/install_browser.sh

# PostgreSQL (Debian package) for the cluster profile's integration test (tests/test_cluster_postgres.py,
# which starts a private cluster on 127.0.0.1); same rules as `browser`: installed when missing,
# skipped with a message where that is impossible.
postgres:
	bash scripts/install_postgres.sh

demo: install
	$(BIN)/academy demo

test: install browser postgres
	$(BIN)/pytest -q

serve: install
	$(BIN)/academy serve

# The local stack: Prefect server + UI, work pool, deployments and worker, MLflow UI, router and its
# dashboard (scripts/stack.sh; PREFECT_PORT / MLFLOW_PORT / ROUTER_PORT override the ports).
up: install
	bash scripts/stack.sh up

down: install
	bash scripts/stack.sh down

bench: install
	$(BIN)/academy bench overhead

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf .academy .pytest_cache
