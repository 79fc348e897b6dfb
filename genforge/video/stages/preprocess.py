"""preprocess: build a video generator's data: Moving MNIST from the MNIST source (the training digits, from which
sequences are drawn afresh at every training step, and fixed validation and test sequences), or the sequences of
a folder of video files, split by time."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.config import Job
from genforge.core.files import atomic_path, md5_file, write_json
from genforge.core.idx import read_mnist_split
from genforge.video.media import VIDEO_SUFFIXES, read_clip, square_frames
from genforge.video.moving_mnist import sequences
from genforge.video.training import DIGITS, SPEC, TEST, TRAIN, VAL


def _source_folder(job: Job) -> Path:
    if len(job.data) != 1:
        raise GenForgeError(f"generators.{job.name}.data: a video generator reads one source (MNIST's IDX files or "
                            f"a folder of clips), got {job.data}")
    folder = Path(job.paths.raw) / job.data[0]
    if not folder.is_dir():
        raise GenForgeError(f"{folder}: not found; run the collect stage first (`dvc repro collect`)")
    return folder


def _moving_mnist(job: Job, folder: Path) -> tuple[dict, dict]:
    """MNIST's training digits split by seed into training digits and the digits of the validation sequences; the
    test sequences from MNIST's test digits."""
    cfg = job.preprocess
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
    return arrays, {"train_digits": len(train_digits), "val_digits": len(val_digits), "test_digits": len(test),
                    "digits_per_sequence": cfg.digits, "step": cfg.step}


def _clips(job: Job, folder: Path) -> tuple[dict, dict]:
    """Every video file and GIF under ``folder`` (name order), its frames squared to ``size``, cut into
    consecutive sequences of ``frames`` frames; of each clip's sequences the last ``test_fraction`` go to test and
    the ``val_fraction`` before them to val (split by time: the held-out stretches come after the training ones).
    A clip of fewer than 3 sequences, or one that does not decode, is skipped and listed."""
    cfg = job.preprocess
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (*VIDEO_SUFFIXES, ".gif"))
    if not files:
        raise GenForgeError(f"{folder}: no video files ({', '.join((*VIDEO_SUFFIXES, '.gif'))}); point the "
                            "source at a folder of clips")
    splits: dict[str, list] = {TRAIN: [], VAL: [], TEST: []}
    skipped, clips = [], []
    for file in files:
        try:
            frames = square_frames(read_clip(file), cfg.size)
        except GenForgeError as e:
            skipped.append({"file": str(file.relative_to(folder)), "reason": str(e)})
            continue
        n = len(frames) // cfg.frames
        if n < 3:
            skipped.append({"file": str(file.relative_to(folder)), "reason": f"{len(frames)} frames: fewer than 3 "
                            f"sequences of {cfg.frames}"})
            continue
        cut = frames[:n * cfg.frames].reshape(n, cfg.frames, cfg.size, cfg.size, 1)
        n_test, n_val = max(1, round(n * cfg.test_fraction)), max(1, round(n * cfg.val_fraction))
        splits[TRAIN].append(cut[:n - n_val - n_test])
        splits[VAL].append(cut[n - n_val - n_test:n - n_test])
        splits[TEST].append(cut[n - n_test:])
        clips.append({"file": str(file.relative_to(folder)), "frames": len(frames), "sequences": n})
    if not clips:
        raise GenForgeError(f"{folder}: no clip gives 3 sequences of {cfg.frames} frames (skipped: "
                            f"{', '.join(s['file'] for s in skipped)}); lower preprocess.frames or add longer clips")
    arrays = {name: np.concatenate(parts) for name, parts in splits.items()}
    return arrays, {"clips": clips, "skipped": skipped, "train_sequences": len(arrays[TRAIN])}


def preprocess(job: Job) -> dict:
    """Write ``paths.processed/{train_digits.npy or train.npy, val.npy, test.npy, dataset.json}`` and
    ``paths.metrics/preprocess.json``.

    ``format: moving_mnist``: MNIST's training digits are split by seed: ``preprocess.val_fraction`` of them draw
    the ``val_sequences`` validation sequences, the rest are the training digits (``uint8 (N, 28, 28)``); MNIST's
    test digits draw the ``test_sequences`` test sequences, so no test sequence shows a digit image seen in
    training. Sequences are ``uint8 (n, frames, size, size, 1)`` (:func:`genforge.video.moving_mnist.sequences`),
    drawn with the generators ``(seed, 1)`` (val) and ``(seed, 2)`` (test). ``format: folder``: the sequences of
    every clip of the source, split by time (:func:`_clips`), the training ones in train.npy.

    Raises:
        GenForgeError: the source folder or its files are missing (named), the source is not one folder, or (folder)
            no clip is long enough.
    """
    cfg = job.preprocess
    start = time.perf_counter()
    folder = _source_folder(job)
    arrays, details = (_moving_mnist if cfg.format == "moving_mnist" else _clips)(job, folder)
    with atomic_path(job.paths.processed, is_dir=True) as tmp:
        for name, array in arrays.items():
            np.save(tmp / name, array)
        summary = {"format": cfg.format, "frames": cfg.frames, "size": cfg.size, **details,
                   "val_sequences": len(arrays[VAL]), "test_sequences": len(arrays[TEST]),
                   "md5": {name: md5_file(tmp / name) for name in arrays}}
        write_json(tmp / SPEC, summary)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_json(Path(job.paths.metrics) / "preprocess.json", summary)
    return {"format": cfg.format, "val_sequences": len(arrays[VAL]), "test_sequences": len(arrays[TEST])}
