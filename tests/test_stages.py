"""The stages on a tiny project, called in-process: outputs, MLflow lineage, and the errors bad input gets."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CHAR, folder_digest, write_params

from genforge.core.config import load_params
from genforge.core.files import md5_file
from tasks import run_stage
from tasks.collect import collect
from tasks.evaluate import evaluate
from tasks.optimize import optimize
from tasks.preprocess import preprocess
from tasks.register import register
from tasks.report import report
from tasks.train import train

STAGES = [("collect", collect), ("preprocess", preprocess), ("train", train), ("optimize", optimize),
          ("evaluate", evaluate), ("register", register), ("report", report)]


def args(verb: str) -> list[str]:
    """The command-line arguments of a stage: the generator's name, but for collect and report."""
    return [] if verb in ("collect", "report") else [CHAR]


def run_all(upto: str = "report") -> None:
    for verb, fn in STAGES:
        assert run_stage(verb, fn, args(verb)) == 0, verb
        if verb == upto:
            return


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for folder in ("data", "models", "metrics", "reports"):
        for p in sorted((root / folder).rglob("*")) if (root / folder).exists() else []:
            if p.is_file() and "checkpoints" not in p.parts:
                out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def edit_params(root: Path, mutate) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    mutate(params)
    write_params(root, params)


def test_pipeline_outputs_and_mlflow_lineage(project, monkeypatch, capsys):
    import mlflow

    (project / f"data/processed/{CHAR}").mkdir(parents=True)
    (project / f"data/processed/{CHAR}/.gitignore").write_text("/train.npy\n")  # as DVC writes it
    run_all()
    assert (project / f"data/processed/{CHAR}/.gitignore").exists()  # preprocess replaces its files, not the folder
    stats = json.loads((project / f"metrics/{CHAR}/preprocess.json").read_text())
    assert stats["train"]["documents"] == 3 and stats["val"]["documents"] == 1 and stats["test"]["documents"] == 1
    assert np.load(project / f"data/processed/{CHAR}/train.npy").dtype == np.uint8
    manifest = json.loads((project / "data/raw/manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == [f"plays/play{i}.md" for i in range(6)]
    assert stats["domain"]["documents"] == 1 and stats["domain"]["tokens"] > 0  # play5, in no split

    ev = json.loads((project / f"metrics/{CHAR}/evaluate.json").read_text())
    assert ev["bits_per_character"] == pytest.approx(ev["cross_entropy"] / np.log(2))
    assert ev["perplexity"] == pytest.approx(np.exp(ev["cross_entropy"]))
    assert ev["tokens"] == stats["test"]["tokens"] - 1  # every test token but the first is scored once
    opt = json.loads((project / f"metrics/{CHAR}/optimize.json").read_text())
    variants = opt["variants"]
    assert set(variants) == {"dense", "pruned", "int8", "keras_int8", "litert_float32", "litert_float16",
                             "litert_int8"}
    assert variants["int8"]["cross_entropy"] == pytest.approx(ev["cross_entropy"])  # the model evaluate scored
    assert opt["model_file"] == "model.int8.npz" and variants["int8"]["size_ratio"] > 3
    assert opt["prune"]["sparsity"]["total"] == pytest.approx(0.5, abs=1e-3)
    litert = project / f"models/optimized/{CHAR}/litert"
    assert all(variants[v]["size_bytes"] == (litert / variants[v]["file"]).stat().st_size
               for v in variants if v.startswith("litert_"))
    # the LiteRT float32 model is the pruned Keras model, step for step
    assert variants["litert_float32"]["cross_entropy"] == pytest.approx(variants["pruned"]["cross_entropy"], abs=1e-5)
    with open(project / f"metrics/{CHAR}/optimize_tradeoff.csv") as f:
        assert {row["variant"] for row in csv.DictReader(f)} == set(variants)
    assert "=== temperature 0.0 seed 1337 ===" in (project / f"metrics/{CHAR}/samples.txt").read_text()
    assert set(ev["samples"]) >= {"distinct_2", "self_bleu_4", "novelty_word_2", "novelty_char_8", "memorized_share"}
    assert set(ev["reference"]) == set(ev["samples"])
    assert all(0 <= ev["samples"][k] <= 1 for k in ("distinct_2", "self_bleu_4", "novelty_char_8", "memorized_share"))
    assert ev["accuracy"] <= ev["top5_accuracy"] <= 1
    train_json = json.loads((project / f"metrics/{CHAR}/train.json").read_text())
    assert ev["stability"]["training_steps"] == 2 * 15 and ev["stability"]["nonfinite_losses"] == 0
    assert ev["stability"]["same_seed_identical"] is True and ev["stability"]["seeds"] == 1
    assert ev["stability"]["bits_per_character_mean"] == ev["bits_per_character"]
    eff = ev["efficiency"]
    assert eff["parameters"] == train_json["parameters"] and eff["train_peak_rss_mib"] > 0
    assert eff["model_file_bytes"] == (project / f"models/optimized/{CHAR}/model.int8.npz").stat().st_size
    assert eff["batch_1_chars_per_second"] > 0 and eff["batch_1_latency_ms_p50"] <= eff["batch_1_latency_ms_p95"]
    assert {"batch_4_chars_per_second", "evaluate_peak_rss_mib"} <= set(eff)
    adapt = ev["adaptability"]
    assert adapt["tokens"] == stats["domain"]["tokens"] and adapt["steps"] == 3
    assert adapt["gain_over_fresh"] == pytest.approx(adapt["loss_fresh"] - adapt["loss_after"])
    assert ev["gate"]["passed"] and ev["gate"]["reasons"] == [] and len(ev["gate"]["checks"]) == 4
    samples = json.loads((project / f"metrics/{CHAR}/samples.json").read_text())["samples"]
    drawn = [s for s in samples if s["kind"] == "drawn"]
    assert [s["seed"] for s in drawn] == [1338, 1339, 1340]  # seed 1337 draws the shown samples: no text twice
    shown = {s["text"] for s in samples if s["kind"] == "shown"}
    assert not shown & {s["text"] for s in drawn}

    reg = json.loads((project / f"metrics/{CHAR}/register.json").read_text())
    assert reg["version"] == 1 and set(reg["aliases"]) == {"challenger", "champion"}
    assert reg["decision"] == "champion: there was no champion" and reg["gate_passed"] is True
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    run = client.get_run(reg["run_id"])
    assert run.data.params["train.units"] == "16" and run.data.params["seed"] == "1337"
    assert run.data.tags["data.train.md5"] == md5_file(project / f"data/processed/{CHAR}/train.npy")
    assert len(run.data.tags["mlflow.source.git.commit"].removesuffix("-dirty")) == 40
    assert run.data.metrics["test/bits_per_character"] == pytest.approx(ev["bits_per_character"])
    assert {"curves/loss", "curves/val_loss", "curves/accuracy", "optimize/litert_int8/size_ratio",
            "optimize/prune/sparsity/total", "train/tokens_per_second", "test/top5_accuracy", "samples/distinct_2",
            "samples/self_bleu_4", "samples/longest_copied_span", "stability/loss_spikes",
            "efficiency/batch_1_latency_ms_p95", "adaptability/loss_after", "gate/passed"} <= set(run.data.metrics)
    assert run.data.tags["gate.passed"] == "true" and run.data.tags["register.decision"] == reg["decision"]
    assert len(client.get_metric_history(run.info.run_id, "curves/val_loss")) == 2
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "samples", "report", "optimize"} <= artifacts
    assert "plots/train_loss.png" in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    # one row per epoch, appended
    epochs = client.load_table(run.info.experiment_id, "samples/epochs.json", [run.info.run_id])
    assert list(epochs["epoch"]) == [1, 2] and all(isinstance(t, str) and t for t in epochs["sample"])
    assert (project / "mlartifacts").is_dir() and not (project / "mlruns").exists()  # the project's artifact store
    assert str(client.get_model_version_by_alias(f"genforge-{CHAR}", "champion").version) == "1"

    # the report's figures are evaluate.json's and the MLflow run's, exactly
    from test_report import mlflow_figures, parse

    figures = parse((project / f"reports/{CHAR}.html").read_text(encoding="utf-8")).figures
    flat = mlflow_figures(ev, opt)
    assert set(figures) == set(flat)
    for key, value in flat.items():
        assert float(figures[key]) == float(value) == run.data.metrics[key], key

    # the registered model generates, and equals the local model folder with the same seed
    from genforge.text.models import load_generator
    from genforge.text.sampling import generate

    model = mlflow.pyfunc.load_model(f"models:/genforge-{CHAR}@champion")
    out = model.predict(pd.DataFrame({"prompt": ["KING:"]}),
                        params={"max_new_tokens": 40, "temperature": 0.7, "seed": 5})
    net, tok = load_generator(project / f"models/optimized/{CHAR}")
    assert out["text"][0] == generate(net, tok, "KING:", max_new_tokens=40, temperature=0.7, seed=5)
    assert len(out["text"][0]) == 40
    stop = out["text"][0][10:12]  # the text ends before the first occurrence of a stop sequence
    cut = model.predict(pd.DataFrame({"prompt": ["KING:"]}),
                        params={"max_new_tokens": 40, "temperature": 0.7, "seed": 5, "stop": [stop]})
    assert cut["text"][0] == out["text"][0][:out["text"][0].index(stop)]

    # a model trained for 0 epochs fails the gate: registered (version 2) but with no alias
    edit_params(project, lambda p: p["generators"][CHAR]["train"].update(epochs=0))
    for verb, fn in STAGES[2:]:
        assert run_stage(verb, fn, args(verb)) == 0
    reg2 = json.loads((project / f"metrics/{CHAR}/register.json").read_text())
    assert reg2["version"] == 2 and reg2["aliases"] == [] and reg2["gate_passed"] is False
    assert reg2["decision"].startswith("no alias: the gate failed: bits_per_character")
    assert not client.get_model_version(f"genforge-{CHAR}", "2").aliases
    assert client.get_model_version(f"genforge-{CHAR}", "2").tags["gate.passed"] == "false"

    # a worse model that passes the gate becomes challenger; champion stays on version 1
    edit_params(project, lambda p: p["generators"][CHAR]["train"].update(epochs=1))
    for verb, fn in STAGES[2:]:
        assert run_stage(verb, fn, args(verb)) == 0
    reg3 = json.loads((project / f"metrics/{CHAR}/register.json").read_text())
    assert reg3["gate_passed"] is True and reg3["value"] > reg["value"] + 0.01
    assert reg3["version"] == 3 and reg3["aliases"] == ["challenger"] and reg3["champion_version"] == 1
    assert reg3["decision"].startswith("challenger: bits_per_character")
    assert reg3["previous_metrics"]["bits_per_character"] == pytest.approx(reg["value"])
    assert str(client.get_model_version_by_alias(f"genforge-{CHAR}", "champion").version) == "1"
    assert str(client.get_model_version_by_alias(f"genforge-{CHAR}", "challenger").version) == "3"

    # a store without the run (a fresh clone's mlflow.db, `make run ONLY=` another generator): the report stage
    # writes the page without MLflow links and names the generator, instead of failing
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'other.db'}")
    capsys.readouterr()
    assert run_stage("report", report, []) == 0
    out = capsys.readouterr().out
    assert f"report: {CHAR}: its MLflow run {reg3['run_id']} (from its register.json) is not in sqlite:///" in out
    page = (project / f"reports/{CHAR}.html").read_text(encoding="utf-8")
    assert "#/experiments/" not in page and f"genforge-{CHAR}" in page
    assert f'href="{CHAR}.html"' in (project / "reports/index.html").read_text(encoding="utf-8")


def _expect_error(verb, fn, capsys, message):
    assert run_stage(verb, fn, args(verb)) == 2
    err = capsys.readouterr().err
    assert f"{verb}: error:" in err and message in err, err
    return err


def test_bad_input_fails_early_and_keeps_earlier_outputs(project, capsys):
    run_all(upto="preprocess")
    assert run_stage("train", train, [CHAR]) == 0
    before = snapshot(project)
    assert any(k.startswith(f"models/trained/{CHAR}/") for k in before)

    # unknown key and wrong type: every stage refuses to start
    edit_params(project, lambda p: p["generators"][CHAR]["train"].update(unit=3))
    _expect_error("collect", collect, capsys, f"generators.{CHAR}.train.unit: unknown key")
    edit_params(project, lambda p: (p["generators"][CHAR]["train"].pop("unit"),
                                    p["generators"][CHAR]["train"].update(epochs="many")))
    _expect_error("train", train, capsys, f"generators.{CHAR}.train.epochs")
    edit_params(project, lambda p: p["generators"][CHAR]["train"].update(epochs=2))

    # sha256 mismatch, missing source
    (project / "corpus/play0.md").write_text("**A**  \nchanged\n")
    _expect_error("collect", collect, capsys, "sha256 mismatch")
    edit_params(project, lambda p: p["collect"]["sources"][0].update(path="no/such/dir"))
    _expect_error("collect", collect, capsys, "does not exist")
    assert snapshot(project) == before

    def use_corpus(name: str, files: dict[str, bytes]) -> None:
        folder = project / name
        folder.mkdir()
        for file, data in files.items():
            (folder / file).write_bytes(data)
        edit_params(project, lambda p: (p["collect"]["sources"][0].update(path=name, sha256=folder_digest(folder)),
                                        p["generators"][CHAR]["preprocess"].update(domain="")))
        assert run_stage("collect", collect, []) == 0

    # a held-out domain glob that matches no document
    edit_params(project, lambda p: p["generators"][CHAR]["preprocess"].update(domain="*/comedies/*"))
    _expect_error("preprocess", preprocess, capsys, "preprocess.domain '*/comedies/*' matches none of the 6 document")
    edit_params(project, lambda p: p["generators"][CHAR]["preprocess"].update(domain="plays/play5.md"))

    # empty corpus: files that hold no text
    use_corpus("empty", {f"e{i}.md": b"  \n\n" for i in range(3)})
    _expect_error("preprocess", preprocess, capsys, "the corpus is empty")

    # undecodable bytes: the error names the file and the byte offset
    use_corpus("bad", {f"b{i}.md": b"**A**  \nok\n" + (b"caf\xe9\n" if i == 1 else b"") for i in range(3)})
    _expect_error("preprocess", preprocess, capsys, "plays/b1.md: byte 0xe9 at offset 14 is not valid utf-8")

    # a corpus shorter than one training window: the error gives both numbers
    use_corpus("short", {f"s{i}.md": f"**A**  \nline {i}\n".encode() for i in range(3)})
    assert run_stage("preprocess", preprocess, [CHAR]) == 0
    err = _expect_error("train", train, capsys, "split has 10 tokens; one training window needs 17")
    assert "lower train.seq_len" in err
    # the trained model of the earlier successful run is untouched
    after = snapshot(project)
    assert {k: v for k, v in after.items() if k.startswith("models/")} == \
        {k: v for k, v in before.items() if k.startswith("models/")}


def test_params_path_and_generator_arguments(project, capsys, monkeypatch):
    assert load_params(project / "params.yaml").generators[CHAR].train.units == 16
    assert run_stage("train", train, ["no-such-gen"]) == 2
    assert f"no generator 'no-such-gen' in params.yaml; generators: {CHAR}" in capsys.readouterr().err
    monkeypatch.setenv("GENFORGE_PARAMS", "missing.yaml")
    assert run_stage("collect", collect, []) == 2
    assert "missing.yaml: params file not found" in capsys.readouterr().err


def test_train_resumes_from_the_last_checkpoint(project, monkeypatch):
    """A crash at the end of epoch 2 of 3 (before its checkpoint), then a plain re-run: training continues from the
    checkpoint of epoch 1 instead of starting over, and the history holds all three epochs."""
    import keras

    from genforge.core import tracking
    run_all(upto="preprocess")
    edit_params(project, lambda p: p["generators"][CHAR]["train"].update(epochs=3, patience=5))
    real_logger = tracking.epoch_logger

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated crash at the end of epoch 2")

    monkeypatch.setattr(tracking, "epoch_logger", lambda run_id, fn=None: Crash())
    with pytest.raises(KeyboardInterrupt):
        train(load_params(), CHAR)
    assert not (project / f"models/trained/{CHAR}").exists()
    (folder,) = [p for p in (project / f"models/checkpoints/{CHAR}").iterdir() if p.is_dir()]
    assert (folder.parent / f"{folder.name}.run.json").exists()  # the run the resume continues
    state = json.loads((folder / "state.json").read_text())
    assert state["step"] == 15 and [row["epoch"] for row in state["history"]] == [1]  # epoch 1 of 15 steps

    monkeypatch.setattr(tracking, "epoch_logger", real_logger)
    summary = train(load_params(), CHAR)
    assert summary["epochs"] == 3
    history = (project / f"metrics/{CHAR}/train_history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history] == ["epoch", "1", "2", "3"]
    steps = (project / f"metrics/{CHAR}/train_steps.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in steps[1:]] == list(range(1, 46))  # every step once, in order
    # the checkpoint and the run record are removed after success; the lock file (a few bytes) stays: removing a
    # file another trainer may be opening to lock it would let two trainers hold two different files
    assert [p.name for p in (project / f"models/checkpoints/{CHAR}").iterdir()] == [f"{folder.name}.lock"]


def test_stability_over_training_seeds(project):
    """evaluate.seeds: 2 trains one more model (seed + 1) like the train stage and reports the spread."""
    run_all(upto="optimize")
    edit_params(project, lambda p: p["generators"][CHAR]["evaluate"].update(seeds=2, adapt_steps=0))
    assert run_stage("evaluate", evaluate, [CHAR]) == 0
    ev = json.loads((project / f"metrics/{CHAR}/evaluate.json").read_text())
    st = ev["stability"]
    other = 2 * st["bits_per_character_mean"] - ev["bits_per_character"]  # the second seed's figure
    assert st["seeds"] == 2 and other != pytest.approx(ev["bits_per_character"], abs=1e-6)
    assert st["bits_per_character_std"] == pytest.approx(abs(other - ev["bits_per_character"]) / np.sqrt(2))
    assert ev["adaptability"] == {}  # adapt_steps: 0 skips it
