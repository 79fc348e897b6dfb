"""Killing `dvc repro` in the middle of train, as a user's Ctrl-\\ or an OOM killer would (the `dvc repro` process
only, not its group): the stage process does not live on, one trainer holds a checkpoint at a time, the next attempt
resumes the same MLflow run, and the model ends where an uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import BIN, CHAR, run
from test_stages import edit_params

from genforge import GenForgeError


def test_a_held_folder_is_refused_with_the_holders_pid(tmp_path):
    from genforge.core.locks import exclusive

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1])\n"
        "from genforge.core.locks import exclusive\n"
        "with exclusive(sys.argv[2], 'checkpoint folder'):\n"
        "    print('held', flush=True); time.sleep(60)\n"), str(BIN.parents[1]), str(tmp_path / "ckpt")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(GenForgeError, match=rf"checkpoint folder .*ckpt is in use by another process "
                                                rf"\(PID {holder.pid}\).*kill {holder.pid}"), \
                exclusive(tmp_path / "ckpt", "checkpoint folder"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path / "ckpt", "checkpoint folder"):  # a dead holder blocks nobody
        assert (tmp_path / "ckpt.lock").read_text() == f"{os.getpid()}\n"


@pytest.mark.parametrize("shell", ["/bin/sh", "bash"])
def test_a_stage_ends_when_the_process_above_its_shell_dies(tmp_path, shell):
    """DVC starts a stage as ``$SHELL -c <cmd>``: with bash the stage's parent is DVC, with dash (``/bin/sh`` here and
    on CI) it is the shell, which outlives a killed DVC. Either way the stage must end with the process above."""
    stage = tmp_path / "stage.py"
    stage.write_text("import os, sys, time\n"
                     f"sys.path.insert(0, {str(BIN.parents[1])!r})\n"
                     "from genforge.core.locks import end_with_parent\n"
                     "end_with_parent()\n"
                     "print(os.getpid(), flush=True)\n"
                     "time.sleep(60)\n")
    above = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
                              shell, "-c", f"{sys.executable} {stage}"], stdout=subprocess.PIPE, text=True)
    stage_pid = int(above.stdout.readline())
    assert psutil.Process(stage_pid).is_running()
    above.kill()
    above.wait()
    deadline = time.monotonic() + 10
    while _alive(stage_pid):
        assert time.monotonic() < deadline, f"the stage (PID {stage_pid}) outlived the process above its {shell}"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie awaiting its parent's wait counts as ended; so does one gone mid-check)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _repro(project, *args) -> subprocess.Popen:
    """``dvc repro train@<CHAR>`` in the background, as CI starts it: under ``SHELL=/bin/sh`` (dash, which stays the
    stage's parent) and with SIGTERM ignored, as a runner that ignores it passes on to every process it starts (the
    disposition survives ``exec``). Its output goes to ``attempt-N.log`` beside the project (read back by
    :func:`_attempts` when an assertion fails)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["SHELL"] = "/bin/sh"  # as on CI: DVC runs the stage under a shell that stays its parent (dash does not exec)
    log = project.parent / f"attempt-{len(list(project.parent.glob('attempt-*.log'))) + 1}.log"
    with open(log, "w") as out:
        return subprocess.Popen(["dvc", "repro", *args, f"train@{CHAR}"], cwd=project, env=env,
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_ignore_sigterm)


def _attempts(project, runs) -> str:
    """What a failed assertion shows: every MLflow run (status, times, tags) and the tail of each attempt's log."""
    lines = [f"run {r.info.run_id} {r.info.status} start={r.info.start_time} end={r.info.end_time} "
             f"tags={ {k: v for k, v in r.data.tags.items() if not k.startswith('mlflow.')} }" for r in runs]
    for log in [*sorted(project.parent.glob("attempt-*.log")), project.parent / "kills.txt"]:
        if log.exists():
            lines += [f"--- {log.name}", *log.read_text(errors="replace").splitlines()[-25:]]
    return "\n".join(lines)


def _step(state) -> int | None:
    """The step a checkpoint's state.json records; ``None`` when it is caught mid-rename."""
    try:
        return json.loads(state.read_text())["step"]
    except (ValueError, FileNotFoundError):
        return None


def _kill_dvc_at(project, proc: subprocess.Popen, step: int) -> None:
    """SIGKILL the `dvc repro` process alone once the checkpoint has passed ``step``; then its stage process must end
    within 10 s (it would otherwise train on as an orphan beside the next attempt's trainer)."""
    states = list((project / f"models/checkpoints/{CHAR}").glob("*/state.json"))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        states = list((project / f"models/checkpoints/{CHAR}").glob("*/state.json"))
        if states and (_step(states[0]) or 0) >= step:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    children = psutil.Process(proc.pid).children(recursive=True)
    with open(project.parent / "kills.txt", "a") as log:  # shown by _attempts when an assertion fails
        log.write(f"killing dvc {proc.pid} at {[(s.parent.name, _step(s)) for s in states]}; children "
                  f"{[(c.pid, c.ppid(), ' '.join(c.cmdline())[:80]) for c in children]}\n")
    assert children
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"orphans of the killed dvc repro: {alive}"
    # ended by the kill, not by training on to the end (which removes the checkpoint) within those 10 s
    assert list((project / f"models/checkpoints/{CHAR}").glob("*/state.json")), \
        "the stage process trained on to the end after its dvc repro was killed"


@pytest.mark.slow
def test_killed_three_times_then_resumed_equals_an_uninterrupted_run_in_one_mlflow_run(project):
    import mlflow

    run(["dvc", "repro", f"preprocess@{CHAR}"], project)
    edit_params(project, lambda p: p["generators"][CHAR]["train"].update(epochs=3, steps_per_epoch=200,
                                                                         checkpoint_steps=10))
    for step in (50, 250, 450):  # mid-epoch 1, 2 and 3
        _kill_dvc_at(project, _repro(project), step)
    assert _repro(project).wait(timeout=600) == 0, _attempts(project, [])
    resumed = json.loads((project / f"metrics/{CHAR}/train.json").read_text())
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"genforge-{CHAR}")
    runs = client.search_runs([experiment.experiment_id])
    assert [(r.info.status, r.data.tags.get("resumed")) for r in runs] == [("FINISHED", "true")], \
        _attempts(project, runs)  # one run
    assert {m.step for m in client.get_metric_history(runs[0].info.run_id, "curves/val_loss")} == {1, 2, 3}

    assert _repro(project, "--force").wait(timeout=600) == 0  # the same training, never interrupted
    whole = json.loads((project / f"metrics/{CHAR}/train.json").read_text())
    assert resumed["val_loss"] == pytest.approx(whole["val_loss"], abs=1e-6)
    statuses = sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))
    assert statuses == ["FINISHED", "FINISHED"]  # one run per trained model, none left RUNNING
