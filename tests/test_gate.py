import math

from genforge.core.config import GateRule
from genforge.core.gate import check_gate

RULES = [GateRule(metric="bits_per_character", op="<=", threshold=3.0),
         GateRule(metric="samples.memorized_share", op="<=", threshold=0.1),
         GateRule(metric="samples.distinct_2", op=">=", threshold=0.3),
         GateRule(metric="stability.nonfinite_losses", op="<=", threshold=0)]


def metrics(**over):
    base = {"bits_per_character": 2.28, "samples.memorized_share": 0.0, "samples.distinct_2": 0.72,
            "stability.nonfinite_losses": 0}
    return {**base, **over}


def test_a_good_model_passes_every_check():
    gate = check_gate(metrics(), RULES)
    assert gate["passed"] and gate["reasons"] == [] and [c["passed"] for c in gate["checks"]] == [True] * 4


def test_inclusive_thresholds_pass_and_each_failure_is_named():
    assert check_gate(metrics(bits_per_character=3.0, **{"samples.distinct_2": 0.3}), RULES)["passed"]
    gate = check_gate(metrics(bits_per_character=6.1, **{"samples.distinct_2": 0.05,
                                                          "stability.nonfinite_losses": 2}), RULES)
    assert not gate["passed"]
    assert gate["reasons"] == ["bits_per_character 6.1 is not <= 3", "samples.distinct_2 0.05 is not >= 0.3",
                               "stability.nonfinite_losses 2 is not <= 0"]


def test_strict_operators_fail_at_the_threshold():
    rules = [GateRule(metric="fid", op="<", threshold=10), GateRule(metric="coverage", op=">", threshold=0.5)]
    gate = check_gate({"fid": 10.0, "coverage": 0.5}, rules)
    assert gate["reasons"] == ["fid 10 is not < 10", "coverage 0.5 is not > 0.5"]
    assert check_gate({"fid": 9.9, "coverage": 0.51}, rules)["passed"]


def test_nan_missing_or_text_metrics_fail():
    gate = check_gate({"bits_per_character": float("nan"), "samples.distinct_2": "n/a"}, RULES[:3])
    assert not gate["passed"] and len(gate["reasons"]) == 3
    assert all(math.isnan(c["value"]) for c in gate["checks"])
    assert gate["reasons"][1].startswith("samples.memorized_share is not in the evaluation")
