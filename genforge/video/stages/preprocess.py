"""preprocess: build a video generator's Moving MNIST data from the MNIST source: the training digits (sequences are
drawn from them afresh at every training step), and fixed validation and test sequences."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.config import Job
from genforge.core.files import atomic_path, md5_file, write_json
from genforge.core.idx import read_mnist_split
from genforge.video.moving_mnist import sequences
from genforge.video.training import DIGITS, SPEC, TEST, VAL


def _source_folder(job: Job) -> Path:
    if len(job.data) != 1:
        raise GenForgeError(f"generators.{job.name}.data: a Moving MNIST generator reads one source (MNIST's IDX "
                            f"files), got {job.data}")
    folder = Path(job.paths.raw) / job.data[0]
    if not folder.is_dir():
        raise GenForgeError(f"{folder}: not found; run the collect stage first (`dvc repro collect`)")
    return folder


def preprocess(job: Job) -> dict:
    """Write ``paths.processed/{train_digits.npy, val.npy, test.npy, dataset.json}`` and
    ``paths.metrics/preprocess.json``.

    MNIST's training digits are split by seed: ``preprocess.val_fraction`` of them draw the ``val_sequences``
    validation sequences, the rest are the training digits (``uint8 (N, 28, 28)``); MNIST's test digits draw the
    ``test_sequences`` test sequences, so no test sequence shows a digit image seen in training. Sequences are
    ``uint8 (n, frames, size, size, 1)`` (:func:`genforge.video.moving_mnist.sequences`), drawn with the
    generators ``(seed, 1)`` (val) and ``(seed, 2)`` (test).

    Raises:
        GenForgeError: the source folder or its IDX files are missing (named), or the source is not one folder.
    """
    cfg = job.preprocess
    start = time.perf_counter()
    folder = _source_folder(job)
    train, _ = read_mnist_split(folder, "train")
    test, _ = read_mnist_split(folder, "t10k")
    order = np.random.default_rng(job.seed).permutation(len(train))
    n_val = max(1, round(len(train) * cfg.val_fraction))
    val_digits, train_digits = train[np.sort(order[:n_val]), ..., 0], train[np.sort(order[n_val:]), ..., 0]

    def draw(digits: np.ndarray, n: int, stream: int) -> np.ndarray:
        return sequences(digits, np.random.default_rng([job.seed, stream]), n, frames=cfg.frames,
                         per_sequence=cfg.digits, size=cfg.size, step=cfg.step)[0]

    arrays = {DIGITS: train_digits, VAL: draw(val_digits, cfg.val_sequences, 1),
              TEST: draw(test[..., 0], cfg.test_sequences, 2)}
    with atomic_path(job.paths.processed, is_dir=True) as tmp:
        for name, array in arrays.items():
            np.save(tmp / name, array)
        summary = {"format": cfg.format, "train_digits": len(train_digits), "val_digits": len(val_digits),
                   "test_digits": len(test), "val_sequences": cfg.val_sequences,
                   "test_sequences": cfg.test_sequences, "frames": cfg.frames, "size": cfg.size,
                   "digits_per_sequence": cfg.digits, "step": cfg.step,
                   "md5": {name: md5_file(tmp / name) for name in arrays}}
        write_json(tmp / SPEC, summary)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_json(Path(job.paths.metrics) / "preprocess.json", summary)
    return {"train_digits": len(train_digits), "val_sequences": cfg.val_sequences,
            "test_sequences": cfg.test_sequences}
