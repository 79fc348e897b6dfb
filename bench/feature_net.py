"""The domain feature network on real MNIST: its test accuracy, training time, and the floor and ceiling that every
image generator's scores will be read against: FID, KID, precision/recall, density/coverage and the classifier
score of held-out real images (test against a held-out part of train: the real-vs-real floor) and of uniform noise
(the ceiling).

    .venv/bin/python bench/feature_net.py --raw data/raw/mnist    # a folder holding MNIST's four IDX files
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from genforge.core.feature_distances import fid, kid
from genforge.core.idx import read_mnist_split
from genforge.image.features import accuracy, build_feature_net, embed, train_feature_net
from genforge.image.metrics import classifier_score, precision_recall_density_coverage


def scores(name: str, real_features, features, probabilities, seed: int) -> None:
    k = kid(real_features, features, subsets=50, subset_size=1000, seed=seed)
    prdc = precision_recall_density_coverage(real_features, features, k=5)
    print(f"{name:<22} FID {fid(real_features, features):9.3f}  KID {k['mean']:.5f} ± {k['std']:.5f}  "
          + "  ".join(f"{key} {value:.3f}" for key, value in prdc.items())
          + f"  classifier score {classifier_score(probabilities):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder with MNIST's IDX files (searched below)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=5000, help="images per scored set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, train_labels = read_mnist_split(args.raw, "train")
    test, test_labels = read_mnist_split(args.raw, "t10k")
    held = slice(len(train) - args.samples, None)  # the floor's reference: train images the network never saw
    fit = slice(0, len(train) - args.samples)
    model = build_feature_net(train.shape[1:], 10, seed=args.seed)
    start = time.perf_counter()
    losses = train_feature_net(model, train[fit], train_labels[fit], epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f"feature network: {model.count_params():,} parameters, {args.epochs} epochs on {fit.stop:,} images in "
          f"{seconds:.0f} s (losses {', '.join(f'{v:.4f}' for v in losses)}); test accuracy "
          f"{accuracy(model, test, test_labels):.4f} on {len(test):,} images")
    real_features, _ = embed(model, test[:args.samples])
    rng = np.random.default_rng(args.seed)
    noise = rng.integers(0, 256, (args.samples, *train.shape[1:]), dtype=np.uint8)
    for name, images in (("held-out train (floor)", train[held]), ("test itself", test[:args.samples]),
                         ("uniform noise (ceiling)", noise)):
        scores(name, real_features, *embed(model, images), args.seed)


if __name__ == "__main__":
    main()
