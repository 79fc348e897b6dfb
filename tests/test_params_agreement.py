"""What each stage reads of params.yaml, recorded while it runs (genforge.core.config.recording), against what
dvc.yaml declares for it as DVC resolves it: a read that is not declared would let DVC skip a stage whose setting
changed."""

from conftest import CHAR

from genforge.core.config import load_params, recording
from tasks.collect import collect
from tasks.evaluate import evaluate
from tasks.optimize import optimize
from tasks.preprocess import preprocess
from tasks.register import register
from tasks.report import report
from tasks.train import train

STAGES = {"collect": collect, "preprocess": preprocess, "train": train, "optimize": optimize, "evaluate": evaluate,
          "register": register, "report": report}


def declared_params(root) -> dict[str, set[str]]:
    """The params keys of each stage of dvc.yaml (``train@<generator>``, ...), as DVC resolves them."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {stage.addressing: {key for dep in stage.deps if isinstance(dep, ParamsDependency)
                                   for key in dep.params}
                for stage in repo.index.stages}


def undeclared(reads: set[str], declared: set[str]) -> set[str]:
    """The keys read that no declared key covers (a declared section covers every key below it).

    >>> sorted(undeclared({"seed", "generators.a.train.units", "paths.raw"}, {"paths", "generators.a.train"}))
    ['seed']
    """
    return {r for r in reads if not any(r == d or r.startswith(d + ".") for d in declared)}


def run_recorded(root, stages=STAGES, name: str = CHAR) -> dict[str, set[str]]:
    """Run every stage of the tiny project for generator ``name`` in order; return what each read, by its dvc.yaml
    address."""
    reads = {}
    for verb, fn in stages.items():
        params = load_params(root / "params.yaml")
        address, args = (verb, ()) if verb in ("collect", "report") else (f"{verb}@{name}", (name,))
        with recording() as keys:
            fn(params, *args)
        reads[address] = keys
    return reads


def test_every_stage_declares_every_key_it_reads_and_a_planted_read_is_caught(project):
    declared = declared_params(project)
    reads = run_recorded(project)
    assert set(reads) == set(declared)
    assert all(reads[a] for a in reads)  # the recording sees each stage's reads
    assert {"generators.plays-char-lstm.train.units", "seed"} <= reads[f"train@{CHAR}"]
    assert {a: undeclared(reads[a], declared[a]) for a in reads} == {a: set() for a in reads}

    def register_and_peek(params, name):  # a register stage that also reads optimize.method, which it does not declare
        _ = params.generators[name].optimize.method
        return register(params, name)

    planted = run_recorded(project, {"register": register_and_peek})
    assert undeclared(planted[f"register@{CHAR}"], declared[f"register@{CHAR}"]) == \
        {f"generators.{CHAR}.optimize.method"}


def test_the_code_a_registered_model_carries_is_a_dependency_of_its_register_stage():
    """The model that register logs runs genforge code (MLflow ``code_paths``): every file of it must be a declared
    dependency, or an edit to it would leave ``dvc status`` clean while the registered model changes."""
    from pathlib import Path

    from dvc.repo import Repo

    from genforge.core.tracking import model_code

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml")
    with Repo(str(root)) as repo:
        deps = {stage.addressing: [Path(d.fs_path) for d in stage.deps] for stage in repo.index.stages}
    for name, gen in params.generators.items():
        carried = model_code(gen.modality)
        assert carried and all(p.exists() for p in carried)
        files = [f for p in carried for f in ([p] if p.is_file() else p.rglob("*.py"))]
        uncovered = [f for f in files if not any(f == d or d in f.parents for d in deps[f"register@{name}"])]
        assert uncovered == [], f"register@{name} does not depend on {uncovered}"


def test_the_video_stages_declare_every_key_they_read(project):
    from conftest import VIDEO, tiny_params, write_params

    write_params(project, tiny_params(project, (VIDEO,)))
    declared = declared_params(project)
    reads = run_recorded(project, name=VIDEO)
    assert {f"generators.{VIDEO}.train.rollout", "seed"} <= reads[f"train@{VIDEO}"]
    assert {a: undeclared(reads[a], declared[a]) for a in reads} == {a: set() for a in reads}


def test_the_image2image_stages_declare_every_key_they_read(project):
    from conftest import IMAGE2IMAGE, tiny_params, write_params

    write_params(project, tiny_params(project, (IMAGE2IMAGE,)))
    declared = declared_params(project)
    reads = run_recorded(project, name=IMAGE2IMAGE)
    assert {f"generators.{IMAGE2IMAGE}.train.l1_weight", "seed"} <= reads[f"train@{IMAGE2IMAGE}"]
    assert {a: undeclared(reads[a], declared[a]) for a in reads} == {a: set() for a in reads}


def test_the_image_stages_declare_every_key_they_read(project):
    from conftest import IMAGE, tiny_params, write_params

    write_params(project, tiny_params(project, (IMAGE,)))
    declared = declared_params(project)
    reads = run_recorded(project, name=IMAGE)
    assert {f"generators.{IMAGE}.train.arch", "seed"} <= reads[f"train@{IMAGE}"]
    assert {a: undeclared(reads[a], declared[a]) for a in reads} == {a: set() for a in reads}


def test_the_audio_stages_declare_every_key_they_read(project):
    from conftest import AUDIO, tiny_params, write_params

    write_params(project, tiny_params(project, (AUDIO,)))
    declared = declared_params(project)
    reads = run_recorded(project, name=AUDIO)
    assert {f"generators.{AUDIO}.train.units", f"generators.{AUDIO}.evaluate.soundfont"} <= \
        reads[f"train@{AUDIO}"] | reads[f"register@{AUDIO}"]
    assert {a: undeclared(reads[a], declared[a]) for a in reads} == {a: set() for a in reads}


def test_the_waveform_stages_declare_every_key_they_read(project):
    from conftest import WAVEFORM, tiny_params, write_params

    write_params(project, tiny_params(project, (WAVEFORM,)))
    declared = declared_params(project)
    reads = run_recorded(project, name=WAVEFORM)
    assert {f"generators.{WAVEFORM}.preprocess.sample_rate", f"generators.{WAVEFORM}.evaluate.mel_bands"} <= \
        reads[f"preprocess@{WAVEFORM}"] | reads[f"evaluate@{WAVEFORM}"]
    assert {a: undeclared(reads[a], declared[a]) for a in reads} == {a: set() for a in reads}
