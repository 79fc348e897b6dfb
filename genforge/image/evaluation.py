"""The scores of a set of images against the test images, on the domain feature network: what the evaluate and
optimize stages report for the samples, for the real-vs-real floor and for the noise ceiling alike."""

from __future__ import annotations

import math
import time

import numpy as np

from genforge.core.efficiency import percentile
from genforge.core.feature_distances import fid, kid
from genforge.image.features import embed
from genforge.image.metrics import class_histogram, classifier_score, precision_recall_density_coverage
from genforge.image.sampling import generate


def scores(feature_net, real: tuple[np.ndarray, np.ndarray], images: np.ndarray, *, num_classes: int, k: int,
           kid_subsets: int, kid_subset_size: int, seed: int) -> dict:
    """FID, KID (mean and standard deviation over subsets), precision, recall, density, coverage (``k``
    neighbours), the classifier score and the histogram of predicted classes of ``images`` (``uint8 (N, H, W, C)``)
    against ``real`` (the test images' ``(features, probabilities)`` from :func:`genforge.image.features.embed`).
    KID and FID are in squared feature units (the feature network's penultimate layer)."""
    features, probabilities = embed(feature_net, images)
    real_features, _ = real
    k_id = kid(real_features, features, subsets=kid_subsets, subset_size=min(kid_subset_size, len(images)),
               seed=seed)
    histogram = class_histogram(probabilities.argmax(1), num_classes)
    return {"fid": fid(real_features, features), "kid": k_id["mean"], "kid_std": k_id["std"],
            **precision_recall_density_coverage(real_features, features, k=k),
            "classifier_score": classifier_score(probabilities), "class_entropy_bits": histogram["entropy_bits"],
            "classes_missing": len(histogram["missing"]), "class_counts": histogram["counts"]}


def noise_images(n: int, shape, seed: int) -> np.ndarray:
    """The noise ceiling's images: ``uint8 (n, *shape)`` pixels drawn uniformly from 0..255 with ``seed``."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def negative_elbo_bits_per_dim(encoder, network, spec: dict, images: np.ndarray, labels: np.ndarray, seed: int,
                               batch: int = 500) -> float:
    """A VAE's negative ELBO on ``images`` (``uint8``, scaled to [0, 1]) in bits per dimension: the reconstruction
    negative log-likelihood under the decoder's likelihood plus ``KL(q(z|x) || N(0, I))``, one posterior sample
    per image drawn with ``seed``, summed per image, averaged, divided by ``H * W * C * ln 2`` (Kingma & Welling
    2014, eq. 10; the unit of Ho et al. 2020, table 2). A conditional VAE is given each image's class ``labels``
    (``int (N,)``) as one-hot planes and vector, as in training."""
    import tensorflow as tf

    from genforge.image.data import scale

    rng = np.random.default_rng(seed)
    classes, total = spec["num_classes"], 0.0
    for start in range(0, len(images), batch):
        x = scale(images[start:start + batch], (0.0, 1.0))
        onehot = np.eye(classes, dtype=np.float32)[labels[start:start + batch]] if classes else None
        planes = None if onehot is None else np.broadcast_to(onehot[:, None, None, :], (*x.shape[:3], classes))
        mean, log_var = np.split(np.asarray(encoder(x if planes is None else np.concatenate([x, planes], -1))), 2, -1)
        z = (mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)).astype(np.float32)
        out = np.asarray(network(z if onehot is None else np.concatenate([z, onehot], -1)))
        if spec["output"] == "logits":
            nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=out).numpy()
        else:
            sigma = spec["sigma"]
            nll = 0.5 * ((x - out) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
        kl = -0.5 * (1 + log_var - mean ** 2 - np.exp(log_var)).sum(-1)
        total += float((nll.reshape(len(x), -1).sum(1) + kl).sum())
    return total / len(images) / (math.prod(images.shape[1:]) * math.log(2))


def generation_speed(network, spec: dict, *, batch: int, runs: int, seed: int) -> dict[str, float]:
    """Images per second at batch ``batch`` and the latency of one call in milliseconds (median and 95th
    percentile over ``runs`` timed calls after one warm-up call), the sampling loop included (DDIM's steps for
    diffusion)."""
    generate(network, spec, batch, seed)
    times = []
    for i in range(runs):
        start = time.perf_counter()
        generate(network, spec, batch, seed + i)
        times.append(time.perf_counter() - start)
    return {"images_per_second": batch / float(np.mean(times)), "latency_ms_p50": 1000 * percentile(times, 50),
            "latency_ms_p95": 1000 * percentile(times, 95)}
