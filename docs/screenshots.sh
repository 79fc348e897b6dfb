#!/usr/bin/env bash
# Re-take the README's screenshots (overwrites docs/*.png) with headless Chromium (`chromium`; also `curl`), after a
# `make run` whose flow ran on the Prefect server that the screenshots show:
#   make prefect-server PREFECT_PORT=4255 &            # wait until http://127.0.0.1:4255/api/health answers
#   PREFECT_API_URL=http://127.0.0.1:4255/api make run
#   make ui UI_PORT=5077 &
#   bash docs/screenshots.sh [GENERATOR]               # MLFLOW=... PREFECT=... for other addresses
# then stop the two servers (kill %1 %2). The compare view needs two runs of GENERATOR (two `make run`s or a
# `dvc exp run`).
set -euo pipefail
cd "$(dirname "$0")/.."
GENERATOR=${1:-plays-char-lstm}
MLFLOW=${MLFLOW:-http://127.0.0.1:5077}
PREFECT=${PREFECT:-http://127.0.0.1:4255}

shot() {  # shot FILE WIDTHxHEIGHT URL
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$2" \
    --virtual-time-budget=60000 --run-all-compositor-stages-before-draw --screenshot="$1" "$3" 2>/dev/null
}

for url in "$MLFLOW/health" "$PREFECT/api/health"; do
  for _ in $(seq 60); do curl -sf "$url" >/dev/null && break; sleep 1; done
  curl -sf "$url" >/dev/null || { echo "screenshots.sh: $url does not answer: start the server (see above)" >&2; exit 1; }
done

# The generator's experiment and newest run, and the newest training flow run of the Prefect server and its artifact
read -r EXP RUN < <(.venv/bin/python - "$GENERATOR" <<'EOF'
import sys
import mlflow
client = mlflow.MlflowClient("sqlite:///mlflow.db")
exp = client.get_experiment_by_name(f"genforge-{sys.argv[1]}")
runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
print(exp.experiment_id, *(r.info.run_id for r in runs))
EOF
)
FLOW_RUN=$(curl -sf -X POST "$PREFECT/api/flow_runs/filter" -H 'Content-Type: application/json' \
  -d '{"sort": "START_TIME_DESC", "limit": 1, "flow_runs": {"name": {"like_": "genforge-training"}}}' \
  | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')

shot docs/mlflow-runs.png 1900,700 "$MLFLOW/#/experiments/$EXP/runs?workflowType=machine_learning"
shot docs/mlflow-run.png 1500,1300 "$MLFLOW/#/experiments/$EXP/runs/$RUN?workflowType=machine_learning"
# the chart view of the generator's runs (named <generator>-<commit or DVC experiment>), metrics grouped by prefix
shot docs/mlflow-compare.png 2400,1500 "$MLFLOW/#/experiments/$EXP/runs?workflowType=machine_learning\
&compareRunsMode=CHART&searchFilter=attributes.run_name%20LIKE%20%27$GENERATOR-%25%27"
ARTIFACT=$(curl -sf -X POST "$PREFECT/api/artifacts/filter" -H 'Content-Type: application/json' \
  -d "{\"sort\": \"CREATED_DESC\", \"limit\": 1, \"flow_runs\": {\"id\": {\"any_\": [\"$FLOW_RUN\"]}}}" \
  | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
shot docs/prefect-flow-run.png 1500,1100 "$PREFECT/runs/flow-run/$FLOW_RUN"
shot docs/prefect-artifact.png 2300,560 "$PREFECT/artifacts/artifact/$ARTIFACT"
.venv/bin/dvc plots show --out /tmp/genforge-dvc-plots >/dev/null
shot docs/dvc-plots.png 1400,1500 "file:///tmp/genforge-dvc-plots/index.html"
shot docs/report.png 1100,2600 "file://$PWD/reports/$GENERATOR.html"
ls -l docs/*.png
