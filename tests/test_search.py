"""The hyperparameter search flow: search space, override file, and a real 6-trial study killed and resumed."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, CHAR, run
from test_stages import edit_params, run_all

from genforge import GenForgeError
from genforge.core.config import job, load_params
from genforge.core.search import check_space, counted, distributions, overrides, suggest, trial_train_config, write_best
from pipelines.search import main  # imported here, not under capsys: Prefect's import binds its log handlers

REPO = Path(__file__).resolve().parents[1]


def shipped_search() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())["generators"][CHAR]["search"]


def test_overrides_are_dvc_set_param_arguments():
    assert overrides({"train.learning_rate": 0.1 + 0.2, "train.units": 128, "train.random_offsets": False}) == [
        "-S", "train.learning_rate=0.30000000000000004", "-S", "train.units=128", "-S", "train.random_offsets=false"]
    # YAML 1.1 reads 5e-05 as a string: the argument says 5.0e-05, the same float
    assert overrides({"train.learning_rate": 5e-05}) == ["-S", "train.learning_rate=5.0e-05"]
    assert yaml.safe_load("x: 5.0e-05")["x"] == 5e-05


def _study_with(params: dict, state=None, value=None):
    import optuna

    from genforge.text.config import Search

    study = optuna.create_study()
    trial = study.ask()
    search_cfg = Search.model_validate({**shipped_search(),
                                        "space": params})
    train = load_params(REPO / "params.yaml").generators["plays-char-lstm"].train
    suggest(trial, distributions(search_cfg, train))
    study.tell(trial, value, state=state)
    return study, search_cfg, train


def test_a_study_over_another_space_is_refused():
    from optuna.trial import TrialState

    from genforge.text.config import Search

    study, _, train = _study_with({"train.units": {"choices": [8, 16]}}, TrialState.FAIL)
    changed = Search.model_validate({**shipped_search(),
                                     "space": {"train.units": {"choices": [8, 32]}}})
    with pytest.raises(GenForgeError, match=r"searched over another space \(train\.units: .*give search\.study a new"):
        check_space(study, distributions(changed, train))


def test_no_completed_trial_means_no_best_files(tmp_path):
    from optuna.trial import TrialState

    study, _, _ = _study_with({"train.dropout": {"low": 0.0, "high": 0.5}}, TrialState.FAIL)
    with pytest.raises(GenForgeError, match=r"no trial of study .* completed \(fail\)"):
        write_best(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert counted(study) == 1
    study.set_user_attr("interrupted_trials", [0])  # an interrupted trial is retried, not counted
    assert counted(study) == 0


def test_search_space_keys_and_values_are_checked(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["generators"][CHAR]["search"]["space"] = {"train.epochs": {"low": 1, "high": 3}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(GenForgeError, match=r"search\.space.*'train\.epochs' is not a searchable key"):
        load_params(tmp_path / "p.yaml")
    raw["generators"][CHAR]["search"]["space"] = {"train.units": {"low": 8}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(GenForgeError, match=r"\.search\.space\.train\.units.*give either low and high"):
        load_params(tmp_path / "p.yaml")
    # every value is checked against the train section before any trial runs
    for space, message in (({"train.units": {"choices": ["big"]}}, "'big' is not a valid train.units"),
                           ({"train.dropout": {"low": 0.0, "high": 1.0}}, "1.0 is not a valid train.dropout"),
                           ({"train.random_offsets": {"low": 0, "high": 1}}, "give it choices, not a range")):
        raw["generators"][CHAR]["search"]["space"] = space
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
        with pytest.raises(GenForgeError, match=re.escape(message)):
            load_params(tmp_path / "p.yaml")
    params = job(load_params(REPO / "params.yaml"), CHAR)
    cfg = trial_train_config(params.train, {"train.units": 32, "train.dropout": 0.25}, params.search)
    assert (cfg.units, cfg.dropout, cfg.epochs, cfg.steps_per_epoch) == (32, 0.25, params.search.epochs,
                                                                         params.search.steps_per_epoch)
    with pytest.raises(GenForgeError, match="dropout"):
        trial_train_config(params.train, {"train.dropout": 1.5}, params.search)


def test_search_refuses_to_start_without_the_preprocessed_splits(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["--params", "params.yaml", "--generator", CHAR]) == 2
    assert f"data/processed/{CHAR}/train.npy is missing: run `dvc repro preprocess" in capsys.readouterr().err
    assert not (tmp_path / "search").exists()  # nothing created


def _search(project: Path) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(project / f"search-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "pipelines.search", "--generator", CHAR], cwd=project, env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _trials(project: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (project / "search/study.db").exists():
        return []
    import sqlalchemy.exc

    try:
        # a poll must never create the schema: creating it while the search does made the search fail ("table
        # trial_user_attributes already exists"), so the poll reads only what the search has created
        storage = optuna.storages.RDBStorage(f"sqlite:///{project / 'search/study.db'}", skip_table_creation=True)
        study = optuna.load_study(study_name="tiny", storage=storage)
    except KeyError:  # not created yet
        return []
    except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):  # the search is creating the schema
        return []
    return study.get_trials(deepcopy=False)


def test_search_runs_two_trials_at_a_time_and_resumes_after_sigkill(project, tmp_path):
    import mlflow
    from optuna.trial import TrialState

    run_all(upto="preprocess")
    edit_params(project, lambda p: p["generators"][CHAR]["search"].update(
        study="tiny", trials=6, parallel=2, epochs=3, steps_per_epoch=30, startup_trials=2, warmup_epochs=1,
        space={"train.learning_rate": {"low": 0.001, "high": 0.05, "log": True},
               "train.units": {"choices": [8, 16]}}))

    # first search: SIGKILL it (and its Prefect server) while trials run, after two have completed
    proc = _search(project)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        trials = _trials(project)
        if sum(t.state == TrialState.COMPLETE for t in trials) >= 2 and any(t.state == TrialState.RUNNING
                                                                           for t in trials):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.state, t.value, t.params) for t in _trials(project)}
    interrupted = [n for n, (state, _, _) in before.items() if state == TrialState.RUNNING]
    assert interrupted

    # the second search resumes: finished trials are kept, interrupted ones are retried with the same params
    proc = _search(project)
    assert proc.wait(timeout=600) == 0
    after = _trials(project)
    finished = [t for t in after if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6
    for t in after:
        if before.get(t.number, (None,))[0] in (TrialState.COMPLETE, TrialState.PRUNED):
            assert (t.state, t.value, t.params) == before[t.number]  # not re-run
    assert {t.number for t in after if t.state == TrialState.FAIL} == set(interrupted)
    # each interrupted trial is retried with the params it had drawn (a trial killed between two suggest calls has
    # only some of them; the retry draws the rest)
    retried = [t.params for t in after if t.number > max(before)]
    assert all(any(before[n][2].items() <= params.items() for params in retried) for n in interrupted)
    drawn = [tuple(sorted(t.params.items())) for t in after if t.state != TrialState.FAIL]
    assert len(set(drawn)) == len(drawn)  # the resumed sampler does not replay the first run's draws

    # MLflow: one parent run, six finished child runs (plus the interrupted ones, KILLED), never more than two at once
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genforge-search")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    statuses = sorted(r.info.status for r in children)
    # an interrupted trial has a KILLED child run if the kill came after its task had created the run
    assert statuses.count("FINISHED") == 6 and statuses[6:] == ["KILLED"] * (len(statuses) - 6)
    assert len(statuses) - 6 <= len(interrupted)
    spans = [(r.info.start_time, r.info.end_time) for r in children if r.info.status == "FINISHED"]
    overlap = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert overlap == 2

    # the override file, applied by `dvc exp run`, gives params.yaml the best trial's params
    best = yaml.safe_load((project / "search/best_params.yaml").read_text())
    study_best = next(t for t in after if t.number == best["trial"])
    assert study_best.state == TrialState.COMPLETE and study_best.params == best["params"]
    assert best["val_loss"] == study_best.value == min(t.value for t in after if t.state == TrialState.COMPLETE)
    args = (project / "search/best_overrides.txt").read_text().split()
    repo = tmp_path / "apply"
    repo.mkdir()
    (repo / "params.yaml").write_text((project / "params.yaml").read_text())
    (repo / "dvc.yaml").write_text(f"stages:\n  echo:\n    cmd: python -c 'pass'\n"
                                   f"    params: [generators.{CHAR}.train]\n")
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@genforge.invalid"],
                ["git", "config", "user.name", "T"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "p"], ["dvc", "exp", "run", *args]):
        run(cmd, repo)
    applied = load_params(repo / "params.yaml").generators[CHAR].train
    assert {f"train.{k}": getattr(applied, k) for k in ("learning_rate", "units")} == study_best.params

    # a trial is reproducible: trained again in a new process with its params and seed, the same best val loss
    from genforge.core.search import run_trial_process

    request = {"params_path": str(project / "params.yaml"), "generator": CHAR, "trial_id": None,
               "number": study_best.number, "values": study_best.params,
               "seed": load_params(project / "params.yaml").seed + study_best.number,
               "parent_run_id": parents[0].info.run_id}
    assert run_trial_process(request) == ("complete", study_best.value)
