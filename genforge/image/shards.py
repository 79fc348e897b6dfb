"""A split of images on disk: a folder of ``.npy`` shards written as the images stream in, so that preprocess holds
one shard at a time however many images there are, and read back whole (:func:`load_split`) or on demand
(:func:`open_split`, from which the training input pipeline gathers its batches).

Layout of a split folder (written through a temporary folder and renamed, so it appears whole or not at all):

- ``images-00000.npy``, ``images-00001.npy``, ...: ``uint8 (n, H, W, C)``, at most ``shard_images`` each, in
  NumPy's ``.npy`` format (a header, then the pixels in C order, so image ``i`` is a fixed-size run of bytes);
- ``labels.npy``: ``int64 (N,)``, the class of every image in order (``-1`` where there is none);
- ``index.json``: ``{"images": N, "shape": [H, W, C], "shards": [{"file", "images", "md5"}], "labels_md5"}``. It
  names the md5 of every other file, so its own md5 is the split's digest (:func:`split_digest`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.files import atomic_path, md5_file, read_json, write_json

INDEX = "index.json"
LABELS = "labels.npy"


def write_split(folder: str | Path, pairs: Iterable[tuple[np.ndarray, int]], *, shard_images: int) -> int:
    """Stream ``(image, label)`` pairs (``uint8 (H, W, C)`` and an integer) into the split ``folder``, replacing it
    whole once every pair is written; return the number of images.

    Raises:
        GenForgeError: the pairs are empty, or an image is not ``uint8`` or differs in shape from the first one
            (the message gives its position).
        ValueError: ``shard_images`` < 1.
    """
    if shard_images < 1:
        raise ValueError(f"shard_images must be at least 1, got {shard_images}")
    folder = Path(folder)
    with atomic_path(folder, is_dir=True) as tmp:
        shards: list[dict] = []
        labels: list[int] = []
        buffer = None
        for image, label in pairs:
            image = np.asarray(image)
            if buffer is None:
                buffer = np.empty((shard_images, *image.shape), np.uint8)
            if image.dtype != np.uint8 or image.shape != buffer.shape[1:]:
                raise GenForgeError(f"{folder}: image {len(labels)} is {image.dtype} {image.shape}, the split's "
                                    f"first image uint8 {buffer.shape[1:]}: every image of a split must match")
            buffer[len(labels) % shard_images] = image
            labels.append(int(label))
            if len(labels) % shard_images == 0:
                shards.append(_save_shard(tmp, len(shards), buffer))
        if buffer is None:
            raise GenForgeError(f"{folder}: no images to write; the split is empty")
        if len(labels) % shard_images:
            shards.append(_save_shard(tmp, len(shards), buffer[:len(labels) % shard_images]))
        np.save(tmp / LABELS, np.asarray(labels, np.int64))
        write_json(tmp / INDEX, {"images": len(labels), "shape": list(buffer.shape[1:]), "shards": shards,
                                 "labels_md5": md5_file(tmp / LABELS)})
    return len(labels)


def _save_shard(folder: Path, number: int, images: np.ndarray) -> dict:
    name = f"images-{number:05d}.npy"
    np.save(folder / name, images)
    return {"file": name, "images": len(images), "md5": md5_file(folder / name)}


def split_digest(folder: str | Path) -> str:
    """The md5 of the split's ``index.json``, which names every shard's md5: equal digests, equal splits.

    Raises:
        GenForgeError: the split is missing (run the preprocess stage).
    """
    return md5_file(_index_path(folder))


def _index_path(folder: str | Path) -> Path:
    path = Path(folder) / INDEX
    if not path.is_file():
        raise GenForgeError(f"{folder}: no split here (no {INDEX}); run the preprocess stage first (`dvc repro`)")
    return path


class ShardedImages:
    """A split's shards as one read-only array of ``uint8 (N, H, W, C)`` images: ``len``, ``shape``, ``dtype``, and
    ``images[index]`` for an integer array or a slice: a new ``ndarray`` read from the shard files as asked
    (``os.pread`` of each image's bytes, or of each shard's run for a slice), so the process holds only what it
    gathered (a memory map would keep every page it touched resident: the whole split after one epoch).

    Raises:
        GenForgeError: (on creation) a shard is not the ``.npy`` of ``uint8 (n, H, W, C)`` that ``index.json`` says.
    """

    def __init__(self, files: list[Path], counts: list[int], shape: tuple[int, ...]):
        self.shape = (sum(counts), *shape)
        self.dtype = np.dtype(np.uint8)
        self.offsets = np.cumsum([0, *counts])
        self.image_bytes = int(np.prod(shape))
        self.files, self.starts = [], []
        for path, count in zip(files, counts, strict=True):
            f = open(path, "rb")  # noqa: SIM115 (kept open for os.pread; closed with this object)
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            got, fortran, dtype = read_header(f) if read_header else ((), False, None)
            if dtype != np.uint8 or fortran or list(got) != [count, *shape]:
                f.close()
                raise GenForgeError(f"{path}: holds {dtype} {got}, {INDEX} says uint8 {[count, *shape]}; run the "
                                    "preprocess stage again")
            self.files.append(f)
            self.starts.append(f.tell())

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self):
        for f in getattr(self, "files", []):
            f.close()

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice) and index.step in (None, 1):
            return self._run(*index.indices(len(self))[:2])
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index, np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"image indices must be in [0, {len(self)}), got {index.min()}..{index.max()}")
        shards = np.searchsorted(self.offsets, index, side="right") - 1
        out = np.empty((index.size, self.image_bytes), np.uint8)
        for row, (i, s) in enumerate(zip(index.ravel().tolist(), shards.ravel().tolist(), strict=True)):
            position = self.starts[s] + (i - int(self.offsets[s])) * self.image_bytes
            out[row] = np.frombuffer(os.pread(self.files[s].fileno(), self.image_bytes, position), np.uint8)
        return out.reshape(*index.shape, *self.shape[1:])

    def _run(self, start: int, stop: int) -> np.ndarray:
        """Images ``start..stop-1``, one read per shard they span."""
        parts = []
        for s in range(len(self.files)):
            lo, hi = max(start, int(self.offsets[s])), min(stop, int(self.offsets[s + 1]))
            if lo < hi:
                position = self.starts[s] + (lo - int(self.offsets[s])) * self.image_bytes
                parts.append(np.frombuffer(os.pread(self.files[s].fileno(), (hi - lo) * self.image_bytes,
                                                    position), np.uint8))
        flat = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        return flat.reshape(-1, *self.shape[1:])


def open_split(folder: str | Path) -> tuple[ShardedImages, np.ndarray]:
    """``(images, labels)`` of a split: the images read on demand (:class:`ShardedImages`; nothing is read until
    gathered), the labels ``int64 (N,)`` in memory.

    Raises:
        GenForgeError: the split is missing (run preprocess), or a shard or the labels do not hold what
            ``index.json`` says.
    """
    folder = Path(folder)
    index = read_json(_index_path(folder))
    images = ShardedImages([folder / s["file"] for s in index["shards"]], [s["images"] for s in index["shards"]],
                           tuple(index["shape"]))
    labels = np.load(folder / LABELS)
    if len(labels) != index["images"]:
        raise GenForgeError(f"{folder / LABELS}: {len(labels)} labels for {index['images']} images; run the "
                            "preprocess stage again")
    return images, labels


def load_split(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of a split, read whole: ``uint8 (N, H, W, C)`` and ``int64 (N,)``.

    Raises:
        GenForgeError: as :func:`open_split`.
    """
    images, labels = open_split(folder)
    return images[:], labels
