"""Integration with real servers on 127.0.0.1, each started and stopped by its test on a free port: a Prefect server
with a process worker running the deployment, an MLflow server on PostgreSQL, and what a user sees when a server is
down or another run holds the project."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import BIN, CHAR, REPO

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(project: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project), **extra}
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        if key not in extra:
            env.pop(key, None)
    return env


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(1)
    raise AssertionError(f"{url} did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def background(cmd: list[str], env: dict, log: Path, cwd: Path | None = None):
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: Prefect and MLflow servers and workers stop
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sh(cmd: list[str], env: dict, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def wait_for_pool_ready(env: dict, pool: str, timeout_s: float = 60) -> None:
    """Wait until the work pool reports a worker online (its status turns READY)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([str(BIN / "prefect"), "work-pool", "inspect", pool], env=env, capture_output=True,
                             text=True, check=False).stdout
        if "READY" in out.upper().replace("NOT_READY", ""):
            return
        time.sleep(2)
    raise AssertionError(f"work pool {pool} has no worker online after {timeout_s} s")


def test_scheduled_deployment_on_a_prefect_server_and_process_worker(project, tmp_path):
    """(a) a real server and process workers run the deployed pipeline to completion with an MLflow run, the train
    stage on the GPU pool's worker;
    (c) a second run with unchanged data retrains nothing and says so."""
    import mlflow

    port = free_port()  # never Prefect's default 4200: the UI must call the API on the port it is served from
    env = environment(project, PREFECT_HOME=str(tmp_path / "prefect"),
                      PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    start = time.perf_counter()
    # started as the README says (`make prefect-server PREFECT_PORT=...`), from a shell with no PREFECT_API_URL
    with background(["make", "-s", "-C", str(REPO), "prefect-server", f"PREFECT_PORT={port}"],
                    environment(project, PREFECT_HOME=str(tmp_path / "prefect")), tmp_path / "server.log") as server:
        wait_for(f"http://127.0.0.1:{port}/api/health", server, tmp_path / "server.log")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=10) as r:
            assert json.load(r)["api_url"] == f"http://127.0.0.1:{port}/api"  # what the UI's page calls
        out = sh([sys.executable, "-m", "pipelines.deployments", "--cron", "0 3 * * *"], env, project).stdout
        assert "genforge-training/scheduled" in out and "genforge-train-stage/gpu" in out
        with background([str(BIN / "prefect"), "worker", "start", "--pool", "genforge-cpu"], env,
                        tmp_path / "worker.log", cwd=project), \
             background([str(BIN / "prefect"), "worker", "start", "--pool", "genforge-gpu", "--limit", "1"], env,
                        tmp_path / "gpu-worker.log", cwd=project):
            wait_for_pool_ready(env, "genforge-gpu")
            run = [str(BIN / "prefect"), "deployment", "run", "genforge-training/scheduled", "--watch",
                   "--watch-timeout", "400"]
            first = sh(run, env, project)
            assert "Completed" in first.stdout, first.stdout[-2000:]
            # the train stage went to the GPU pool's worker, as a subflow run of the pipeline's flow run
            assert "train: done:" in (tmp_path / "gpu-worker.log").read_text()
            lock = (project / "dvc.lock").read_text()
            second = sh(run, env, project)
            assert "Completed" in second.stdout, second.stdout[-2000:]
            # the second found every stage up to date: same dvc.lock, no new model version
            assert "Nothing changed: every stage was up to date" in (tmp_path / "worker.log").read_text()
            assert (project / "dvc.lock").read_text() == lock
            reg = json.loads((project / f"metrics/{CHAR}/register.json").read_text())
            assert reg["version"] == 1
    # (a changed setting re-running stages and registering a new version: tests/test_e2e.py, through the flow)
    print(f"Prefect server + worker + two deployment runs: {time.perf_counter() - start:.1f} s")
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    run_info = mlflow.MlflowClient().get_run(reg["run_id"])
    assert run_info.data.tags["prefect.flow_run_id"]  # the MLflow run knows the Prefect flow run that made it


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.mark.skipif(_postgres_bin() is None, reason="PostgreSQL is not installed (.ci/run installs it)")
def test_pipeline_logs_to_an_mlflow_server_on_postgresql(project, tmp_path):
    """(b) `dvc repro` with MLFLOW_TRACKING_URI at a real `mlflow server` whose backend store is PostgreSQL."""
    import mlflow

    pg = _postgres_bin()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="genforge-pg-"))
    if as_postgres:
        shutil.chown(data, "postgres")
    pg_port, ml_port = free_port(), free_port()
    env = environment(project)
    start = time.perf_counter()
    sh([*as_postgres, str(pg / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"], env, data)
    sh([*as_postgres, str(pg / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "pg.log"), "-o",
        f"-p {pg_port} -k {data} -c listen_addresses=127.0.0.1", "start"], env, data)
    try:
        sh([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "mlflow"], env, data)
        store = f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/mlflow"
        with background([str(BIN / "mlflow"), "server", "--backend-store-uri", store, "--artifacts-destination",
                         str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(ml_port), "--workers", "1"],
                        env, tmp_path / "mlflow.log") as server:
            uri = f"http://127.0.0.1:{ml_port}"
            wait_for(uri + "/health", server, tmp_path / "mlflow.log")
            sh(["dvc", "repro"], environment(project, MLFLOW_TRACKING_URI=uri), project)
            reg = json.loads((project / f"metrics/{CHAR}/register.json").read_text())
            client = mlflow.MlflowClient(tracking_uri=uri)
            run = client.get_run(reg["run_id"])
            assert "test/bits_per_character" in run.data.metrics and run.data.tags["gate.passed"] in ("true", "false")
            assert {a.path for a in client.list_artifacts(reg["run_id"])} >= {"plots", "report", "samples"}
            assert client.get_model_version(reg["model_name"], str(reg["version"])).run_id == reg["run_id"]
        assert not (project / "mlflow.db").exists()  # nothing went to the local store
    finally:
        subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data / "db"), "-w", "stop", "-m", "fast"],
                       capture_output=True, check=False)
        shutil.rmtree(data, ignore_errors=True)
    print(f"PostgreSQL + MLflow server + dvc repro: {time.perf_counter() - start:.1f} s")


def test_a_server_that_does_not_answer_stops_the_run_before_any_stage(project):
    dead = f"http://127.0.0.1:{free_port()}"
    for key, value, name in (("MLFLOW_TRACKING_URI", dead, "MLflow tracking server"),
                             ("PREFECT_API_URL", dead + "/api", "Prefect API")):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pipelines.training"], cwd=project,
                              env=environment(project, **{key: value}), capture_output=True, text=True, timeout=120,
                              check=False)
        assert proc.returncode == 2 and name in proc.stderr and value in proc.stderr, proc.stderr[-2000:]
        assert time.perf_counter() - start < 60
        assert not (project / "data/raw").exists()  # no stage ran


def test_a_second_run_fails_clearly_while_the_first_holds_the_project(project):
    from filelock import FileLock

    from genforge import GenForgeError
    from pipelines.training import LOCK_FILE, training

    (project / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(project / LOCK_FILE):
        with pytest.raises(GenForgeError, match="another genforge-training run"):
            training.fn(wait_s=0.5)
        # from the command line, a refusal is one line, not a traceback, and no flow run starts
        proc = subprocess.run([sys.executable, "-m", "pipelines.training"], cwd=project, env=environment(project),
                              capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert proc.stderr.startswith("genforge-training: error: another genforge-training run is using this project")
    assert not (project / "data/raw").exists()  # it stopped before any stage
