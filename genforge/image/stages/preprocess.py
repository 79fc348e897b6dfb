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
from genforge.core.idx import read_mnist_split
from genforge.image.data import carve_validation
from genforge.image.folder import decode_files, image_files, label_of
from genforge.image.shards import open_split, split_digest, write_split

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


def _idx_splits(job: Job, folder: Path) -> tuple[dict, list[str], list[dict]]:
    """MNIST's train and test splits as ``(image, label)`` pairs, the classes 0..9; val carved from train."""
    cfg = job.preprocess
    train, test = read_mnist_split(folder, "train"), read_mnist_split(folder, "t10k")
    h, w, c = train[0].shape[1:]
    if [h, w] != list(cfg.size) or c != cfg.channels:
        raise GenForgeError(f"{folder}: the IDX images are {h}x{w} with {c} channel(s); set "
                            f"generators.{job.name}.preprocess.size to [{h}, {w}] and channels to {c}")
    keep, val = carve_validation(len(train[0]), cfg.val_fraction, job.seed)
    splits = {"train": zip(train[0][keep], train[1][keep], strict=True),
              "val": zip(train[0][val], train[1][val], strict=True), "test": zip(*test, strict=True)}
    return splits, [str(i) for i in range(int(train[1].max()) + 1)], []


def _folder_splits(job: Job, folder: Path) -> tuple[dict, list[str], list[dict]]:
    """A folder of image files as lazily decoded ``(image, label)`` pairs per split (test, then val, drawn by seed
    from the file list), labels from class subfolders; the returned list fills with the files that do not decode
    as the pairs are read."""
    cfg = job.preprocess
    files = image_files(folder)
    labels = [label_of(path.relative_to(folder)) for path in files]
    if None in labels or len(set(labels)) < 2:
        where = f" ({files[labels.index(None)].relative_to(folder)} is not)" if None in labels else ""
        raise GenForgeError(f"{folder}: the feature network and the metrics need every image labelled with one of 2 "
                            f"or more classes{where}: put a folder's images in one subfolder per class")
    classes = sorted(set(labels))
    number = {name: i for i, name in enumerate(classes)}
    rest, test = carve_validation(len(files), cfg.test_fraction, job.seed)
    keep, val = carve_validation(len(rest), cfg.val_fraction, job.seed + 1)
    skipped: list[dict] = []

    def pairs(name: str, chosen: np.ndarray):
        decoded = 0
        for path, image in decode_files(folder, [files[i] for i in chosen], channels=cfg.channels,
                                        size=tuple(cfg.size), fit=cfg.fit, on_corrupt=cfg.corrupt, skipped=skipped):
            decoded += 1
            yield image, number[label_of(Path(path))]
        if not decoded:
            raise GenForgeError(f"{folder}: none of the {len(chosen)} files drawn for the {name} split decodes; "
                                "point the source at a folder of PNG, JPEG, BMP or GIF files")

    return ({"train": pairs("train", rest[keep]), "val": pairs("val", rest[val]), "test": pairs("test", test)},
            classes, skipped)


def preprocess(job: Job) -> dict:
    """Write the splits ``paths.processed/{train,val,test}/`` (shards of ``preprocess.shard_images`` images:
    :mod:`genforge.image.shards`, streamed, so a folder of any size passes through one shard at a time),
    ``spec.json`` (size, channels, classes) and ``feature_net.keras``, and ``paths.metrics/preprocess.json`` (images
    and images per class per split, the skipped files with their errors, the feature network's test accuracy and
    digest).

    The feature network (:mod:`genforge.image.features`) is trained on the train split once per dataset: it is kept
    under ``paths.checkpoints/feature-nets/<digest of the train split, its settings and the seed>`` and copied from
    there by every later generator of the same data.

    Raises:
        GenForgeError: the source is missing or unreadable (named), a split is empty, or the data has fewer than two
            classes or an unlabelled image (the feature network is a classifier: put a folder's images in class
            subfolders).
    """
    cfg = job.preprocess
    folder = _source_folder(job)
    splits, classes, skipped = (_idx_splits if cfg.format == "idx" else _folder_splits)(job, folder)
    processed = Path(job.paths.processed)
    for name, pairs in splits.items():
        write_split(processed / name, pairs, shard_images=cfg.shard_images)
    write_json(processed / SPEC, {"size": list(cfg.size), "channels": cfg.channels, "classes": classes})
    features = _feature_net(job, processed, len(classes))
    counts = {name: np.bincount(open_split(processed / name)[1], minlength=len(classes)) for name in SPLITS}
    stats = {name: {"images": int(c.sum()), "per_class": c.tolist()} for name, c in counts.items()}
    stats.update(classes=len(classes), skipped=len(skipped), skipped_files=skipped, feature_net=features)
    write_json(Path(job.paths.metrics) / "preprocess.json", stats)
    return {**{f"{name}_images": int(c.sum()) for name, c in counts.items()}, "skipped": len(skipped),
            "feature_net_accuracy": round(features["test_accuracy"], 4), "feature_net": features["source"]}


def _feature_net(job: Job, processed: Path, num_classes: int) -> dict:
    """Train the feature network, or copy the one trained on the same data and settings; return its record."""
    cfg = job.preprocess.feature_net
    settings = cfg.model_dump()
    key = json.dumps([split_digest(processed / "train"), settings, job.seed], sort_keys=True)
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
    from genforge.image.features import accuracy, build_feature_net, train_feature_net

    cfg = job.preprocess.feature_net
    images, labels = open_split(processed / "train")  # read on demand: batches are gathered as training reads them
    start = time.perf_counter()
    model = build_feature_net(images.shape[1:], num_classes, widths=tuple(cfg.widths), feature_dim=cfg.feature_dim,
                              seed=job.seed)
    losses = train_feature_net(model, images, labels, epochs=cfg.epochs, batch_size=cfg.batch_size,
                               learning_rate=cfg.learning_rate, seed=job.seed)
    seconds = time.perf_counter() - start
    model.save(path)
    test_images, test_labels = open_split(processed / "test")
    return {"test_accuracy": accuracy(model, test_images, test_labels), "train_losses": losses,
            "parameters": int(model.count_params()), "seconds": round(seconds, 1)}
