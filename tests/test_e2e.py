"""End to end on a tiny project: `dvc repro`, then the Prefect flow, then the CLI; each as a user runs them."""

import json
import os
import re
import sys
import time

import pytest
import yaml
from conftest import run, write_params


def dvc_status(root) -> dict:
    return json.loads(run(["dvc", "status", "--json"], root).stdout or "{}")


@pytest.mark.slow
def test_dvc_repro_then_prefect_flow_then_generate(project, tmp_path):
    # 1. dvc repro runs every stage
    start = time.perf_counter()
    run(["dvc", "repro"], project)
    print(f"dvc repro of the tiny project: {time.perf_counter() - start:.1f} s")
    assert dvc_status(project) == {}
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert list(lock) == ["collect", "preprocess", "train", "optimize", "evaluate", "register", "report"]

    # 2. a second repro is a no-op
    out = run(["dvc", "repro"], project).stdout
    assert "Data and pipelines are up to date" in out

    # 3. changing train.epochs makes train and the stages after it stale, not collect or preprocess (optimize and
    #    evaluate read the train section themselves: the pruning fine-tune, the extra seeds and adaptability)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["epochs"] = 3
    write_params(project, params)
    assert set(dvc_status(project)) == {"train", "optimize", "evaluate"}
    dry = run(["dvc", "repro", "--dry"], project).stdout
    # the rest follow once outputs change
    assert re.findall(r"Running stage '(\w+)'", dry) == ["train", "optimize", "evaluate"]

    # 4. the Prefect flow reproduces the stale stages through DVC; afterwards nothing is stale
    env_home = tmp_path / "prefect-home"
    start = time.perf_counter()
    proc = run_flow(project, env_home)
    print(f"Prefect flow on the tiny project: {time.perf_counter() - start:.1f} s")
    assert "Finished in state Completed" in proc.stdout + proc.stderr
    assert dvc_status(project) == {}
    reg = json.loads((project / "metrics/register.json").read_text())
    assert reg["version"] == 2
    new_lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert "collect: done" not in proc.stdout + proc.stderr  # DVC skipped it
    for verb in ("collect", "preprocess"):
        assert new_lock[verb] == lock[verb]
    for verb in ("train", "optimize", "evaluate", "register", "report"):
        assert new_lock[verb] != lock[verb], verb
    assert re.search(r"Prefect artifact genforge-report: [0-9a-f-]{36}", proc.stdout + proc.stderr)

    # 5. the CLI generates from the registry with the champion alias, the same text for the same seed
    args = ["genforge", "generate", "--model", "models:/genforge-text@champion", "--prompt", "KING:", "-n", "50",
            "--seed", "3"]
    first, second = run(args, project).stdout, run(args, project).stdout
    assert first == second and first.startswith("KING:") and len(first.rstrip("\n")) >= 5 + 50 - 1
    stop = first[15:17]
    cut = run([*args, "--stop", stop, "--stop", "QQQQ"], project).stdout
    assert cut == first[:first.index(stop, 5)] + "\n"
    bad = run(["genforge", "generate", "--model", "models/optimized", "--prompt", "K~NG"], project, check=False)
    assert bad.returncode == 2 and "outside the model's vocabulary" in bad.stderr


def run_flow(project, prefect_home):
    import subprocess

    from conftest import BIN

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PREFECT_HOME": str(prefect_home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run([sys.executable, "-m", "pipelines.training"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc
