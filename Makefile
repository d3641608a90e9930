# `make demo` and `make test` each build .venv/ on a fresh machine first (torch's CPU wheel before
# everything else, so no CUDA build is pulled, then the exact versions of requirements.lock), then run.
# The `academy` command is .venv/bin/academy.
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser postgres demo test test-fast serve lint format bench clean up down

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# requirements.lock: every extra of pyproject.toml (and the core) pinned exactly, resolved by uv for
# this venv's Python and platform, with torch's CPU wheel from pip's find-links (PIP_FIND_LINKS), so
# no CUDA package is pinned. Versions already in the lock are kept; run after editing [project].
.PHONY: lock
lock:
	test -x $(BIN)/uv || $(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --all-extras --python $(BIN)/python --quiet \
		$(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) \
		--custom-compile-command "make lock" -o $(LOCK)
	! grep -q '^nvidia-' $(LOCK) || { echo "$(LOCK) pins CUDA packages: point PIP_FIND_LINKS at torch's CPU wheel"; exit 1; }

# dvc.lock's committed entry (the school trace) after its code or params changed: `dvc repro` reruns
# what changed and records the md5 of its dependencies and outputs (tests/e2e/test_dvc_repro.py checks it).
.PHONY: dvc-lock
dvc-lock: install
	$(BIN)/dvc repro school_trace

# Headless Chromium + chromedriver (Debian packages) for the dashboard's browser test; installed with
# apt-get when missing, skipped with a message where that is impossible (the test then skips itself).
browser:
	bash scripts/install_browser.sh

# PostgreSQL (Debian package) for the cluster profile's integration test (tests/e2e/test_cluster_postgres.py,
# which starts a private cluster on 127.0.0.1); same rules as `browser`: installed when missing,
# skipped with a message where that is impossible.
postgres:
	bash scripts/install_postgres.sh

demo: install
	$(BIN)/academy demo

test: install browser postgres
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# The unit tests only (tests/unit, marker `unit`): no servers, browser or PostgreSQL needed.
test-fast: install
	$(BIN)/lint-imports
	$(BIN)/pytest -q tests/unit

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
