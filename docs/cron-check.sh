#!/usr/bin/env bash
# Documented check for scheduling: a deployment of the pipeline with a cron schedule of every minute, on a local
# Prefect server with a process worker, must give two completed flow runs in a row within 3 minutes. With unchanged
# data each run finds every stage up to date and retrains nothing. Run from the project root after `make run`;
# output: docs/cron-check.txt. Uses its own PREFECT_HOME and port, and stops what it started.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH" PREFECT_HOME="$(mktemp -d)" PREFECT_SERVER_ANALYTICS_ENABLED=false
PORT=${PORT:-4251}
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
prefect server start --host 127.0.0.1 --port "$PORT" > "$PREFECT_HOME/server.log" 2>&1 &
SERVER=$!
stop() { kill $SERVER ${WORKER:-} 2>/dev/null; sleep 5; kill -9 $SERVER ${WORKER:-} 2>/dev/null || true; }
trap stop EXIT
until curl -sf "$PREFECT_API_URL/health" > /dev/null; do sleep 1; done
python -m pipelines.deployments --cron "* * * * *"
prefect worker start --pool genforge-cpu > "$PREFECT_HOME/worker.log" 2>&1 &
WORKER=$!
START=$(date +%s)
python - <<'PY'
import time
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.sorting import FlowRunSort

deadline = time.monotonic() + 180
with get_client(sync_client=True) as client:
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["scheduled"])),
                                     sort=FlowRunSort.EXPECTED_START_TIME_ASC)
        done = [r for r in runs if r.state and r.state.is_final()]
        if len(done) >= 2:
            break
        time.sleep(5)
    for r in done:
        print(f"{r.name}: {r.state.name}, scheduled {r.expected_start_time:%H:%M:%S}, ran {r.total_run_time}")
    assert len(done) >= 2 and all(r.state.is_completed() for r in done[:2]), "fewer than two completed runs in 180 s"
PY
echo "two completed scheduled runs after $(( $(date +%s) - START )) s"
grep -h "Nothing changed\|Stages:" "$PREFECT_HOME/worker.log" | sed 's/^.*| //'
