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

.PHONY: setup run repro test ui lint clean

setup: $(VENV)/.installed

# The virtual environment, from the pins in requirements.lock (direct pins in pyproject.toml).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# The whole pipeline as a Prefect flow (each task runs `dvc repro` of one stage).
run: setup
	$(BIN)/python -m pipelines.training

# The same pipeline through DVC alone.
repro: setup
	$(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest

# The MLflow UI on the project's local store, at http://127.0.0.1:$(UI_PORT)
ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port $(UI_PORT) --workers 1

lint: setup
	$(BIN)/ruff check genforge tasks pipelines tests

clean:
	rm -rf $(VENV)
