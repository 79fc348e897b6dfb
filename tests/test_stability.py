import math

import pytest

from genforge.core.efficiency import percentile
from genforge.core.stability import batch_losses, loss_spikes, nonfinite_count, seed_spread


def test_batch_losses_from_running_means():
    # batches 3, 1, 2: running means 3, 2, 2
    assert batch_losses([3.0, 2.0, 2.0]).tolist() == pytest.approx([3.0, 1.0, 2.0])
    out = batch_losses([3.0, float("nan"), 2.0])
    assert out[0] == 3.0 and math.isnan(out[1]) and math.isnan(out[2])


def test_nonfinite_count():
    assert nonfinite_count([1.0, float("nan"), float("inf"), -float("inf"), 2.0]) == 3
    assert nonfinite_count([]) == 0


def test_loss_spikes_hand_computed():
    losses = [2.0, 1.8, 1.6, 1.5, 1.9, 1.4, 3.0, 1.3]
    # window 3: t=3 median(2, 1.8, 1.6)=1.8, 1.5 no; t=4 median(1.8, 1.6, 1.5)=1.6, 1.9 > 1.92? no;
    # t=5 median(1.6, 1.5, 1.9)=1.6, 1.4 no; t=6 median(1.5, 1.9, 1.4)=1.5, 3.0 > 1.8 yes;
    # t=7 median(1.9, 1.4, 3.0)=1.9, 1.3 no
    assert loss_spikes(losses, window=3, rise=0.2) == 1
    assert loss_spikes(losses, window=3, rise=0.15) == 2  # 1.9 > 1.84 now counts too
    assert loss_spikes([float("nan")] * 10, window=3) == 0  # non-finite steps are counted by nonfinite_count
    with pytest.raises(ValueError):
        loss_spikes(losses, window=0)


def test_seed_spread():
    assert seed_spread([2.0, 2.2, 2.4]) == pytest.approx({"mean": 2.2, "std": 0.2, "n": 3})
    assert seed_spread([2.5]) == {"mean": 2.5, "std": 0.0, "n": 1}
    with pytest.raises(ValueError):
        seed_spread([])


def test_percentile_linear_interpolation():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)  # 1 + 0.95 * 4
    with pytest.raises(ValueError):
        percentile([], 50)
