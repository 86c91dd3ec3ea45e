# credit-scoring: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-14s\033[0m %s\n",$$1,$$2}'

$(STAMP): pyproject.toml requirements-dev.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@[ -x $(PY) ] || uv venv --quiet --python 3.11 $(VENV)
	uv pip sync --quiet --python $(PY) requirements-dev.lock
	uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv from the lock file and install the package (editable)

lock: ## Re-resolve the lock files from pyproject.toml
	uv pip compile --quiet pyproject.toml -o requirements.lock --python-version 3.11
	uv pip compile --quiet pyproject.toml --extra dev --extra spark -o requirements-dev.lock --python-version 3.11
	uv pip compile --quiet infra/docker/mlflow/requirements.in -c requirements.lock \
		-o infra/docker/mlflow/requirements.lock --python-version 3.11

SERVE ?= --serve
demo: install ## Embedded store: data -> train -> validate -> promote, then serve on :8000 with the workbench at /ui (SERVE=--no-serve to skip)
	$(BIN)/credit-scoring demo $(SERVE)

serve: install ## Serve the production model on 127.0.0.1:8000 without API keys (local use)
	$(BIN)/credit-scoring serve --no-auth

lint: install ## ruff; actionlint on .github/workflows
	$(BIN)/ruff check src tests benchmarks airflow
	$(BIN)/actionlint

typecheck: install ## mypy on the package
	$(BIN)/mypy

test-fast: install ## Unit tests only
	$(BIN)/pytest -m unit -q

# Test processes for test-py (pytest-xdist). Tests isolate themselves (tmp dirs, free ports, a fresh
# database each) and session fixtures start one server per worker. Many tests wait on servers they
# start, so 2 workers on a 2-core machine took the suite from 18.5 to 11.8 min (2026-12-01).
PYTEST_WORKERS ?= 2
test-py: install ## Unit, model, integration and Helm tests (real MLflow, PostgreSQL, uvicorn); PYTEST_WORKERS=2
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal --ignore=tests/airflow --ignore=tests/e2e --ignore=tests/k8s

test-browser: install ## Workbench and /docs in headless Chromium (Selenium; screenshots in .artifacts/browser)
	$(BIN)/pytest -q tests/browser

test-airflow: ## Airflow DAG tests in their own virtualenv
	bash airflow/run-tests.sh

reliability: install ## Fault scenarios (hung/failing database, SIGTERM, kill -9): sent/answered/recorded/lost table
	$(BIN)/pytest -q tests/integration/api/test_reliability.py

test-e2e: install ## docker compose stack end to end
	$(BIN)/pytest -q -m e2e tests/e2e

test-k8s: install ## The chart's rendered pods run in Docker (stand-in kubelet): the guide's Kubernetes flow
	$(BIN)/pytest -q -m k8s tests/k8s

test: lint typecheck test-py test-airflow test-e2e test-k8s ## Everything CI runs

pre-commit: install ## The pre-commit hooks on every file (ruff, mypy, actionlint, hygiene)
	$(BIN)/pre-commit run --all-files

hooks: install ## Install the git pre-commit hook (.pre-commit-config.yaml)
	$(BIN)/pre-commit install

bench: install ## Benchmarks (print figures; not part of test); installs the bench extra
	uv pip install --quiet --python $(PY) -e '.[bench]'
	$(PY) benchmarks/quality.py
	$(PY) benchmarks/training_scale.py
	$(PY) benchmarks/validation_scale.py
	$(PY) benchmarks/ledger_spool.py

bench-portfolio: install ## Portfolio scoring benchmark: 1M/5M/10M rows, local engine and Spark (tens of minutes)
	$(PY) benchmarks/portfolio_scoring.py

clean: ## Remove local state (embedded store, caches)
	rm -rf .credit-scoring .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install lock demo serve lint typecheck test-fast test-py test-browser test-airflow test-e2e test-k8s reliability test pre-commit hooks bench bench-portfolio clean
