"""The domain feature network on a toy dataset it must separate: horizontal against vertical bars."""

import numpy as np
import pytest

from genforge.image.features import accuracy, build_feature_net, embed, train_feature_net


def bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 8x8 images: label 0 a horizontal bar, 1 a vertical bar, each at a random row or column, in noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, 8, 8, 1), dtype=np.uint8)
    labels = rng.integers(0, 2, n)
    for i, (label, at) in enumerate(zip(labels, rng.integers(0, 8, n), strict=True)):
        if label == 0:
            images[i, at, :, 0] = 255
        else:
            images[i, :, at, 0] = 255
    return images, labels


def test_the_network_learns_the_classes_and_gives_features_and_posteriors():
    train, train_labels = bars(400, 0)
    test, test_labels = bars(200, 1)
    model = build_feature_net((8, 8, 1), 2, widths=(8, 8), feature_dim=16, seed=0)
    losses = train_feature_net(model, train, train_labels, epochs=5, batch_size=32, learning_rate=3e-3)
    assert losses[-1] < losses[0]
    assert accuracy(model, test, test_labels) >= 0.95  # a coin toss scores 0.5
    features, probabilities = embed(model, test)
    assert features.shape == (200, 16) and features.dtype == np.float32 and (features >= 0).all()  # ReLU outputs
    assert probabilities.shape == (200, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_shapes_it_cannot_take_are_refused():
    with pytest.raises(ValueError, match="2 or more classes and images of at least 4x4"):
        build_feature_net((3, 3, 1), 10)
    with pytest.raises(ValueError, match="got 1 classes"):
        build_feature_net((28, 28, 1), 1)
