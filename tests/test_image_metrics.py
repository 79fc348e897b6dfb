"""Image sample metrics on small cases worked out by hand."""

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.core.feature_distances import fid, frechet_distance, kid, mmd2_unbiased
from genforge.image.metrics import class_histogram, classifier_score, memorization, precision_recall_density_coverage


def test_frechet_distance_of_two_gaussians_by_hand():
    # 1-D: N(0, 1) and N(1, 4): (0 - 1)^2 + 1 + 4 - 2 sqrt(1 * 4) = 2
    assert frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)
    # independent dimensions add: the 1-D case (2) plus N(0, 9) against N(3, 1): 9 + 9 + 1 - 2 * 3 = 13
    assert frechet_distance([0, 0], np.diag([1, 9]), [1, 3], np.diag([4, 1])) == pytest.approx(15.0)
    # a rotation of both leaves it unchanged
    r = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    assert frechet_distance(r @ [0, 0], r @ np.diag([1, 9]) @ r.T, r @ [1, 3],
                            r @ np.diag([4, 1]) @ r.T) == pytest.approx(15.0)


def test_fid_of_samples_from_two_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (200_000, 2))
    b = rng.normal(0, 1, (200_000, 2)) * [2, 1] + [1, 0]  # N((1, 0), diag(4, 1)): 1 + (1 + 4 - 4) + 0 = 2
    assert fid(a, b) == pytest.approx(2.0, abs=0.03)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-9)


def test_kid_by_hand():
    # k(a, b) = (a b + 1)^3 in 1-D. x = {0, 1}: within = (k(0,1) + k(1,0)) / 2 = 1; y = {1, 2}: k(1,2) = 27;
    # across: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37, mean 9.25. MMD^2 = 1 + 27 - 2 * 9.25 = 9.5
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(9.5)
    out = kid(x, y, subsets=3, subset_size=10)  # subsets of min(10, 2, 2) = 2 rows: the whole sets each time
    assert out["mean"] == pytest.approx(9.5) and out["std"] == pytest.approx(0.0) and out["subset_size"] == 2
    same = np.random.default_rng(1).normal(size=(400, 4))
    assert abs(kid(same[:200], same[200:], subsets=20, subset_size=100)["mean"]) < 0.05  # one distribution: ~0


def test_precision_recall_density_coverage_by_hand():
    # real 0, 1, 2, 10 with k = 1: ball radii 1, 1, 1, 8. generated 0.5 lies in the balls of 0 and 1; 20 in none.
    real, fake = np.array([[0.0], [1.0], [2.0], [10.0]]), np.array([[0.5], [20.0]])
    out = precision_recall_density_coverage(real, fake, k=1)
    assert out["precision"] == 0.5  # 0.5 is in a real ball, 20 is not
    assert out["density"] == 1.0  # (2 + 0) memberships / (k = 1 times 2 generated)
    assert out["coverage"] == 0.5  # the balls of 0 and 1 hold a generated point; those of 2 and 10 none
    assert out["recall"] == 1.0  # generated balls have radius 19.5: every real point is in one
    with pytest.raises(GenForgeError, match="N >= 6"):
        precision_recall_density_coverage(real, fake, k=5)


def test_memorization_by_carlinis_ratio_by_hand():
    train = np.array([[0.0], [10.0], [11.0], [12.0]])
    # 0.1: distances 0.1, 9.9, 10.9 to its 3 nearest, mean 6.97; 0.1 / (0.5 * 6.97) = 0.029 <= 1: a copy
    # 5: distances 5, 5, 6, mean 5.33; 5 / (0.5 * 5.33) = 1.875 > 1: not
    out = memorization(np.array([[0.1], [5.0]]), train, alpha=0.5, n=3)
    assert out["ratio"] == pytest.approx([0.1 / (0.5 * 20.9 / 3), 5 / (0.5 * 16 / 3)])
    assert out["share"] == 0.5 and out["nearest"].tolist() == [0, 0] and out["distance"] == pytest.approx([0.1, 5])


def test_classifier_score_and_class_histogram_by_hand():
    assert classifier_score(np.eye(2)[[0, 1, 0, 1]]) == pytest.approx(2.0)  # confident, even: exp(ln 2)
    assert classifier_score(np.full((4, 3), 1 / 3)) == pytest.approx(1.0)  # every posterior is the marginal
    assert classifier_score(np.eye(3)[[0, 0, 0]]) == pytest.approx(1.0)  # one class only
    out = class_histogram(np.array([0, 0, 1, 3]), 4)
    assert out["counts"] == [2, 1, 0, 1] and out["missing"] == [2]
    assert out["entropy_bits"] == pytest.approx(1.5)  # shares 1/2, 1/4, 1/4
    with pytest.raises(GenForgeError, match="classes 0..3"):
        class_histogram(np.array([4]), 4)


def test_bad_features_are_refused():
    with pytest.raises(GenForgeError, match=r"generated features: expected a finite \(N, D\) array"):
        fid(np.zeros((3, 2)), np.array([[np.nan, 0], [0, 0]]))
    with pytest.raises(GenForgeError, match="feature widths differ: 2 and 3"):
        fid(np.zeros((3, 2)), np.zeros((3, 3)))
