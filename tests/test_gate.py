import math

from genforge.core.gate import check_gate

THRESHOLDS = {"max_bits_per_character": 3.0, "max_memorized_share": 0.1, "min_distinct_2": 0.3,
              "max_nonfinite_losses": 0}


def metrics(**over):
    base = {"bits_per_character": 2.28, "samples.memorized_share": 0.0, "samples.distinct_2": 0.72,
            "stability.nonfinite_losses": 0}
    return {**base, **over}


def test_a_good_model_passes_every_check():
    gate = check_gate(metrics(), THRESHOLDS)
    assert gate["passed"] and gate["reasons"] == [] and [c["passed"] for c in gate["checks"]] == [True] * 4


def test_thresholds_are_inclusive_and_each_failure_is_named():
    assert check_gate(metrics(bits_per_character=3.0, **{"samples.distinct_2": 0.3}), THRESHOLDS)["passed"]
    gate = check_gate(metrics(bits_per_character=6.1, **{"samples.distinct_2": 0.05,
                                                          "stability.nonfinite_losses": 2}), THRESHOLDS)
    assert not gate["passed"]
    assert gate["reasons"] == ["bits_per_character 6.1 is not <= 3", "samples.distinct_2 0.05 is not >= 0.3",
                               "stability.nonfinite_losses 2 is not <= 0"]


def test_nan_or_missing_metrics_fail():
    gate = check_gate({"bits_per_character": float("nan")}, {"max_bits_per_character": 3.0,
                                                              "min_distinct_2": 0.3})
    assert not gate["passed"] and len(gate["reasons"]) == 2
    assert all(math.isnan(c["value"]) for c in gate["checks"])
