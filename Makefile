# GenForge: `make run` sets up and runs the whole pipeline; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# a first start migrates a fresh database: on a busy 2-core machine that can take longer than the default 20 s
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
UI_PORT ?= 5000
PREFECT_PORT ?= 4200
MLFLOW_PORT ?= 5001
BACKEND_STORE_URI ?= sqlite:///$(CURDIR)/mlflow.db
CRON ?= 0 3 * * *

.PHONY: setup run repro search exps test ui serve lint clean prefect-server worker gpu-worker deploy mlflow-server

setup: $(VENV)/.installed

# The virtual environment, from the pins in requirements.lock (direct pins in pyproject.toml).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# The whole pipeline as a Prefect flow (each task runs `dvc repro` of one stage): every generator of params.yaml,
# or those of ONLY (space-separated names).
ONLY ?=
run: setup
	$(BIN)/python -m pipelines.training $(if $(strip $(ONLY)),--only $(ONLY))

# The same pipeline through DVC alone.
repro: setup
	$(BIN)/dvc repro

# The Optuna hyperparameter search of generator GENERATOR's `search` section (needs its preprocessed data:
# `dvc repro preprocess@$(GENERATOR)`).
GENERATOR ?= plays-char-lstm
search: setup
	$(BIN)/python -m pipelines.search --generator $(GENERATOR)

# One generator's experiments, one row each: val loss, test bits per character, epochs, learning rate
exps: setup
	$(BIN)/dvc exp show --md --drop '.*' --keep 'Experiment|Created|.*$(GENERATOR)/(train.json:val_loss|evaluate.json:bits_per_character)$$|generators.$(GENERATOR).train.(epochs|learning_rate)$$'

test: setup
	$(BIN)/python -m pytest

# The MLflow UI on the project's local store, at http://127.0.0.1:$(UI_PORT); first the link to each generator's runs
ui: setup
	@$(BIN)/genforge ui-links --url http://127.0.0.1:$(UI_PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port $(UI_PORT) --workers 1

# A registered (or any) MLflow model behind MLflow's scoring server at http://127.0.0.1:$(SERVE_PORT)/invocations.
# MLflow starts `uvicorn` from PATH, which this Makefile puts the virtual environment's bin/ on.
MODEL ?= models:/genforge-plays-char-lstm@champion
SERVE_PORT ?= 5002
serve: setup
	MLFLOW_TRACKING_URI="$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}" \
		$(BIN)/mlflow models serve -m "$(MODEL)" --env-manager local --host 127.0.0.1 --port $(SERVE_PORT)

# Shared servers and scheduled runs (see README, "Scheduling, work pools and shared servers").
# The UI asks the API at server.api.port (PREFECT_SERVER_API_PORT), not at --port: both are set, so that any
# PREFECT_PORT serves a UI that calls its own API.
prefect-server: export PREFECT_SERVER_API_PORT := $(PREFECT_PORT)
prefect-server: export PREFECT_UI_API_URL := http://127.0.0.1:$(PREFECT_PORT)/api
prefect-server: setup
	$(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

worker gpu-worker deploy: export PREFECT_API_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api

worker: setup
	$(BIN)/prefect worker start --pool genforge-cpu

gpu-worker: setup
	$(BIN)/prefect worker start --pool genforge-gpu --limit 1

deploy: setup
	$(BIN)/python -m pipelines.deployments --cron "$(CRON)"

# An MLflow tracking server on the project's SQLite store, or on BACKEND_STORE_URI=postgresql://user@host:port/db
mlflow-server: setup
	$(BIN)/mlflow server --backend-store-uri "$(BACKEND_STORE_URI)" --artifacts-destination "$(CURDIR)/mlartifacts" \
		--host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

lint: setup
	$(BIN)/ruff check genforge tasks pipelines tests tools

clean:
	rm -rf $(VENV)
