# iris-ml: every command a user or CI runs. Needs only python3 (>= 3.11), make and git.
#   make demo   set up, train + register + promote, serve the champion and open the UI
#   make test   set up and run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

# `mlflow run` starts the entry point as `python train.py`: make it the venv's python.
export PATH := $(CURDIR)/$(BIN):$(PATH)

# Local state lives in ignored paths; override with the standard MLflow variables.
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db
export MLFLOW_EXPERIMENT_NAME ?= iris-classifier
export GRADIO_ANALYTICS_ENABLED ?= False
# Tests and linters never write into the repo.
export PYTHONDONTWRITEBYTECODE := 1
export RUFF_NO_CACHE := true

HOST ?= 127.0.0.1
PORT ?= 5001
UI_PORT ?= 7860
WORKERS ?= 0
TRAIN_ARGS ?=
SERVE_ARGS ?=
# make serve: FOLLOW=1 swaps to the new champion when the alias moves; VERSION=N pins one.
FOLLOW ?= 1
# make serve and make demo write every scored row here (git ignores it); PAYLOADS= turns it off.
PAYLOADS ?= payloads
VERSION ?=
# The UI's endpoint: the server `make serve` starts with the same HOST and PORT.
SCORING_URI ?= http://$(HOST):$(PORT)/invocations
# make tracking-server: a team's mlflow server (docs/team.md). The backend store comes from
# MLFLOW_BACKEND_STORE_URI (it holds a password: keep it out of argv).
TRACKING_PORT ?= 5000
ARTIFACTS_DESTINATION ?= $(CURDIR)/mlartifacts
TRACKING_ARGS ?=
REASON ?=
MONITOR_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
SOAK_ARGS ?=

.PHONY: image help setup uv-cache train train-uv serve ui demo monitor retrain-if-drift tracking-server champion champion-history champion-set rollback test test-unit test-integration lint secrets format diagram docs bench bench-startup bench-onnx bench-batch soak clean azure-validate azure-train azure-deploy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the pinned dependencies (requirements.lock)

# --compile-bytecode: every process here runs with PYTHONDONTWRITEBYTECODE, so without the
# bytecode compiled once now, each server, CLI and test start compiles its imports again
# (MLflow's scoring stack: 6.9 s to import instead of 2.8 s).
$(STAMP): requirements.lock pyproject.toml conda.yaml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required, found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(BIN)/uv pip install --quiet --python $(PY) --no-deps -e .
	$(MAKE) --no-print-directory uv-cache
	@touch $@

# `mlflow run --env-manager uv` resolves conda.yaml's packages, and uv resolves offline only
# from the wheel metadata a resolution cached: `uv pip sync` above installs pins without one.
# Resolve the same set once (read from conda.yaml as MLflow reads it), held to the lock.
uv-cache: ## resolve conda.yaml's packages once so `mlflow run --env-manager uv` builds offline
	$(PY) -c 'from mlflow.utils.environment import _PythonEnv as E; e = E.from_conda_yaml("conda.yaml"); print(*e.build_dependencies, *e.dependencies, sep="\n")' \
	  | $(BIN)/uv pip compile --quiet - --constraint requirements.lock --python $(PY) --output-file /dev/null

train: setup ## run the MLflow Project: train, evaluate, register, gate, promote
	$(BIN)/iris-ml train $(TRAIN_ARGS)

train-uv: setup ## the MLflow Project in a fresh uv venv built from conda.yaml, held to the lock
	$(BIN)/iris-ml train --env-manager uv $(TRAIN_ARGS)

serve: setup ## serve the champion, following the alias (HOST, PORT, WORKERS, FOLLOW, VERSION, PAYLOADS, SERVE_ARGS)
	$(BIN)/iris-ml serve --host $(HOST) --port $(PORT) --workers $(WORKERS) \
	  $(if $(VERSION),--version $(VERSION),$(if $(filter 1,$(FOLLOW)),--follow)) \
	  $(if $(PAYLOADS),--log-payloads $(PAYLOADS)) $(SERVE_ARGS)

ui: setup ## the Gradio page on UI_PORT, against SCORING_URI (default: make serve's HOST and PORT)
	SCORING_URI="$(SCORING_URI)" $(PY) -m ui --host $(HOST) --port $(UI_PORT)

tracking-server: setup ## a team's mlflow server: checks MLFLOW_BACKEND_STORE_URI and the artifacts destination first
	$(BIN)/iris-ml tracking-server --host $(HOST) --port $(TRACKING_PORT) \
	  --artifacts-destination "$(ARTIFACTS_DESTINATION)" $(TRACKING_ARGS)

champion: setup ## which version is champion, since when, its metrics and gate decision
	$(BIN)/iris-ml champion show

champion-history: setup ## every move of the champion alias: when, from which version, who, why
	$(BIN)/iris-ml champion history

champion-set: setup ## make VERSION the champion (REASON required; FORCE=1 for a version the gate rejected)
	$(BIN)/iris-ml champion set "$(VERSION)" --reason "$(REASON)" $(if $(filter 1,$(FORCE)),--force)

rollback: setup ## move the champion back to the version before its last move (REASON)
	$(BIN)/iris-ml champion rollback $(if $(REASON),--reason "$(REASON)")

demo: setup ## train + register + promote, then serve the champion and the UI until Ctrl-C
	$(BIN)/iris-ml demo --train --train-args="$(TRAIN_ARGS)" --host $(HOST) --port $(PORT) --ui-port $(UI_PORT) --workers $(WORKERS) \
	  $(if $(PAYLOADS),--log-payloads $(PAYLOADS))

monitor: setup ## compare the payload log (PAYLOADS) with the champion's training data; exit 3 on drift
	$(BIN)/iris-ml monitor --payloads $(PAYLOADS) $(MONITOR_ARGS)

retrain-if-drift: setup ## monitor, then train (the gate decides) only when drift was found
	$(BIN)/iris-ml retrain-if-drift --payloads $(PAYLOADS) $(MONITOR_ARGS) $(TRAIN_ARGS)

# The two images of the Dockerfile, labelled with this checkout's revision (docs/containers.md).
ENGINE ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)
# podman writes OCI images by default, which drop HEALTHCHECK: ask for Docker's format.
FORMAT = $(if $(filter podman,$(ENGINE)),--format docker)
IMAGE ?= localhost/iris-ml:latest
UI_IMAGE ?= localhost/iris-ml-ui:latest
image: ## build the server and page images (ENGINE=docker|podman, IMAGE, UI_IMAGE)
	$(ENGINE) build $(FORMAT) --target server --tag $(IMAGE) --build-arg REVISION=$$(git rev-parse HEAD) .
	$(ENGINE) build $(FORMAT) --target ui --tag $(UI_IMAGE) --build-arg REVISION=$$(git rev-parse HEAD) .

test: lint ## lint, then the whole suite (browser tests need Chromium: see .ci/run)
	$(BIN)/pytest $(PYTEST_ARGS)

# Only the folders that hold unit tests: collecting tests/integration imports its modules
# (about 15 s) just to deselect them.
test-unit: setup ## only the tests that start no process
	$(BIN)/pytest tests/unit tests/ui -m "not integration and not browser" $(PYTEST_ARGS)

test-integration: setup ## the tests that start real processes and the browser
	$(BIN)/pytest -m "integration or browser" $(PYTEST_ARGS)

lint: setup secrets ## ruff lint and format check, mypy, import directions, secret scan
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

secrets: setup ## detect-secrets over the tracked files: must find nothing
	$(BIN)/detect-secrets scan | $(PY) -c 'import json, sys; r = json.load(sys.stdin)["results"]; sys.exit(f"possible secrets in {sorted(r)}" if r else 0)'

bench: setup ## serving benchmark: the project's serve configuration beside MLflow's default and the seed design, then bench-startup
	$(PY) -m benchmarks.bench $(BENCH_ARGS)
	$(PY) -m benchmarks.startup $(STARTUP_ARGS)

bench-startup: setup ## start-up and memory: imports, a worker's stages, launch to first answer and RSS, beside the seed design
	$(PY) -m benchmarks.startup $(STARTUP_ARGS)

bench-onnx: setup ## ONNX Runtime beside the numpy linear scorer (agreement, load, RSS, call time); installs onnxruntime in a throwaway venv
	$(PY) -m benchmarks.onnx_scorer $(ONNX_ARGS)

bench-batch: setup ## a 1M-row CSV through iris-ml batch (Spark local) beside score-client -> serve: rows/s, peak memory (BATCH_ARGS="--rows 10000000")
	$(PY) -m benchmarks.batch $(BATCH_ARGS)

soak: setup ## 60 s mixed load at 32 connections, then a worker killed under load; prints the figures
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

diagram: setup ## redraw docs/architecture.md's package diagram from the code's imports
	$(PY) -m tools.package_diagram

docs: setup ## build the documentation site into site/
	$(BIN)/mkdocs build --strict

CANARY ?= 0
MIRROR ?= 0
azure-validate: setup ## load the Azure ML specs offline with azure-ai-ml
	$(PY) -m deploy validate

azure-train: setup ## submit the training job to Azure ML and stream its logs
	$(PY) -m deploy train

azure-deploy: setup ## deploy the workspace champion blue/green (CANARY, MIRROR percentages)
	$(PY) -m deploy deploy --canary $(CANARY) --mirror $(MIRROR)

clean: ## remove the venv and local MLflow state
	rm -rf $(VENV) mlflow.db mlruns mlartifacts site .pytest_cache .ruff_cache
