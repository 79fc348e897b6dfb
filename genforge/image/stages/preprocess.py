"""preprocess: decode a generator's image source into train, val and test splits of equal-sized ``uint8`` images,
and train (or reuse) the domain feature network of that data."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.config import Job
from genforge.core.files import atomic_path, md5_file, write_json
from genforge.image.data import NO_LABEL, carve_validation, read_mnist_split, save_split
from genforge.image.folder import read_folder

SPLITS = ("train", "val", "test")
SPEC = "spec.json"  # in paths.processed: image size, channels, class names
FEATURE_NET = "feature_net.keras"  # in paths.processed: the domain feature network
FEATURE_NETS = "feature-nets"  # under the project's paths.checkpoints: trained feature networks by digest


def _source_folder(job: Job) -> Path:
    if len(job.data) != 1:
        raise GenForgeError(f"generators.{job.name}.data: an image generator reads one source, got {job.data}")
    folder = Path(job.paths.raw) / job.data[0]
    if not folder.is_dir():
        raise GenForgeError(f"{folder}: not found; run the collect stage first (`dvc repro collect`)")
    return folder


def _read_idx(job: Job, folder: Path) -> tuple[dict, list[str], list[dict]]:
    """MNIST's train and test splits, the classes 0..9; val carved from train."""
    cfg = job.preprocess
    train, test = read_mnist_split(folder, "train"), read_mnist_split(folder, "t10k")
    h, w, c = train[0].shape[1:]
    if [h, w] != list(cfg.size) or c != cfg.channels:
        raise GenForgeError(f"{folder}: the IDX images are {h}x{w} with {c} channel(s); set "
                            f"generators.{job.name}.preprocess.size to [{h}, {w}] and channels to {c}")
    keep, val = carve_validation(len(train[0]), cfg.val_fraction, job.seed)
    splits = {"train": (train[0][keep], train[1][keep]), "val": (train[0][val], train[1][val]), "test": test}
    return splits, [str(i) for i in range(int(train[1].max()) + 1)], []


def _read_images(job: Job, folder: Path) -> tuple[dict, list[str], list[dict]]:
    """A folder of image files: labels from class subfolders; test, then val, drawn by seed."""
    cfg = job.preprocess
    read = read_folder(folder, channels=cfg.channels, size=tuple(cfg.size), fit=cfg.fit, on_corrupt=cfg.corrupt)
    classes = sorted({label for label in read.labels if label is not None})
    labels = np.array([classes.index(x) if x is not None else NO_LABEL for x in read.labels], dtype=np.int64)
    rest, test = carve_validation(len(labels), cfg.test_fraction, job.seed)
    keep, val = carve_validation(len(rest), cfg.val_fraction, job.seed + 1)
    keep, val = rest[keep], rest[val]
    splits = {name: (read.images[idx], labels[idx]) for name, idx in (("train", keep), ("val", val), ("test", test))}
    return splits, classes, read.skipped


def preprocess(job: Job) -> dict:
    """Write ``paths.processed/{train,val,test}.npz`` (:func:`genforge.image.data.save_split`), ``spec.json`` (size,
    channels, classes) and ``feature_net.keras``, and ``paths.metrics/preprocess.json`` (images and images per class
    per split, the skipped files with their errors, the feature network's test accuracy and digest).

    The feature network (:mod:`genforge.image.features`) is trained on the train split once per dataset: it is kept
    under ``paths.checkpoints/feature-nets/<digest of the train split, its settings and the seed>`` and copied from
    there by every later generator of the same data.

    Raises:
        GenForgeError: the source is missing or unreadable (named), a split is empty, or the data has fewer than two
            classes (the feature network is a classifier: put a folder's images in class subfolders).
    """
    cfg = job.preprocess
    folder = _source_folder(job)
    splits, classes, skipped = (_read_idx if cfg.format == "idx" else _read_images)(job, folder)
    if len(classes) < 2 or any((labels == NO_LABEL).any() for _, labels in splits.values()):
        raise GenForgeError(f"{folder}: the feature network and the metrics need every image labelled with one of 2 "
                            "or more classes: put a folder's images in one subfolder per class")
    processed = Path(job.paths.processed)
    for name, (images, labels) in splits.items():
        save_split(processed / f"{name}.npz", images, labels)
    write_json(processed / SPEC, {"size": list(cfg.size), "channels": cfg.channels, "classes": classes})
    features = _feature_net(job, processed, len(classes))
    stats = {name: {"images": len(labels), "per_class": np.bincount(labels, minlength=len(classes)).tolist()}
             for name, (_, labels) in splits.items()}
    stats.update(classes=len(classes), skipped=len(skipped), skipped_files=skipped, feature_net=features)
    write_json(Path(job.paths.metrics) / "preprocess.json", stats)
    return {**{f"{name}_images": len(labels) for name, (_, labels) in splits.items()}, "skipped": len(skipped),
            "feature_net_accuracy": round(features["test_accuracy"], 4), "feature_net": features["source"]}


def _feature_net(job: Job, processed: Path, num_classes: int) -> dict:
    """Train the feature network, or copy the one trained on the same data and settings; return its record."""
    cfg = job.preprocess.feature_net
    settings = cfg.model_dump()
    key = json.dumps([md5_file(processed / "train.npz"), settings, job.seed], sort_keys=True)
    cache = Path(job.params.paths.checkpoints) / FEATURE_NETS / hashlib.sha256(key.encode()).hexdigest()[:16]
    source = "reused"
    if not (cache / FEATURE_NET).exists():
        source = "trained"
        with atomic_path(cache, is_dir=True) as tmp:
            write_json(tmp / "record.json", _train_feature_net(job, processed, num_classes, tmp / FEATURE_NET))
    shutil.copyfile(cache / FEATURE_NET, processed / FEATURE_NET)
    record = json.loads((cache / "record.json").read_text())
    return {**record, "source": source, "digest": md5_file(processed / FEATURE_NET)}


def _train_feature_net(job: Job, processed: Path, num_classes: int, path: Path) -> dict:
    from genforge.image.data import load_split
    from genforge.image.features import accuracy, build_feature_net, train_feature_net

    cfg = job.preprocess.feature_net
    images, labels = load_split(processed / "train.npz")
    start = time.perf_counter()
    model = build_feature_net(images.shape[1:], num_classes, widths=tuple(cfg.widths), feature_dim=cfg.feature_dim,
                              seed=job.seed)
    losses = train_feature_net(model, images, labels, epochs=cfg.epochs, batch_size=cfg.batch_size,
                               learning_rate=cfg.learning_rate, seed=job.seed)
    seconds = time.perf_counter() - start
    model.save(path)
    test_images, test_labels = load_split(processed / "test.npz")
    return {"test_accuracy": accuracy(model, test_images, test_labels), "train_losses": losses,
            "parameters": int(model.count_params()), "seconds": round(seconds, 1)}
