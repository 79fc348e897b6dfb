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


def run_recorded(root, stages=STAGES) -> dict[str, set[str]]:
    """Run every stage of the tiny project in order; return what each read, by its dvc.yaml address."""
    reads = {}
    for verb, fn in stages.items():
        params = load_params(root / "params.yaml")
        address, args = (verb, ()) if verb in ("collect", "report") else (f"{verb}@{CHAR}", (CHAR,))
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

    def register_and_peek(params, name):  # a register stage that also reads train.units, which it does not declare
        _ = params.generators[name].train.units
        return register(params, name)

    planted = run_recorded(project, {"register": register_and_peek})
    assert undeclared(planted[f"register@{CHAR}"], declared[f"register@{CHAR}"]) == \
        {f"generators.{CHAR}.train.units"}
