"""A split of images on disk: a folder of ``.npy`` shards written as the images stream in, so that preprocess holds
one shard at a time however many images there are, and read back whole (:func:`load_split`) or memory-mapped
(:func:`open_split`, from which the training input pipeline gathers its batches).

Layout of a split folder (written through a temporary folder and renamed, so it appears whole or not at all):

- ``images-00000.npy``, ``images-00001.npy``, ...: ``uint8 (n, H, W, C)``, at most ``shard_images`` each, in
  NumPy's ``.npy`` format (which ``numpy.load(mmap_mode="r")`` maps without reading);
- ``labels.npy``: ``int64 (N,)``, the class of every image in order (``-1`` where there is none);
- ``index.json``: ``{"images": N, "shape": [H, W, C], "shards": [{"file", "images", "md5"}], "labels_md5"}``. It
  names the md5 of every other file, so its own md5 is the split's digest (:func:`split_digest`).
"""

from __future__ import annotations

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
    ``images[index]`` for an integer array or a slice (a new ``ndarray`` gathered across the shards)."""

    def __init__(self, shards: list[np.ndarray]):
        self.shards = shards
        self.offsets = np.cumsum([0] + [len(s) for s in shards])
        self.shape = (int(self.offsets[-1]), *shards[0].shape[1:])
        self.dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index, np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"image indices must be in [0, {len(self)}), got {index.min()}..{index.max()}")
        shard = np.searchsorted(self.offsets, index, side="right") - 1
        out = np.empty((*index.shape, *self.shape[1:]), np.uint8)
        for s in np.unique(shard):
            at = shard == s
            out[at] = self.shards[s][index[at] - self.offsets[s]]
        return out


def open_split(folder: str | Path) -> tuple[ShardedImages, np.ndarray]:
    """``(images, labels)`` of a split: the images memory-mapped (:class:`ShardedImages`; nothing is read until
    gathered), the labels ``int64 (N,)`` in memory.

    Raises:
        GenForgeError: the split is missing (run preprocess), or a shard does not hold what ``index.json`` says.
    """
    folder = Path(folder)
    index = read_json(_index_path(folder))
    shards = []
    for shard in index["shards"]:
        images = np.load(folder / shard["file"], mmap_mode="r")
        if images.dtype != np.uint8 or list(images.shape) != [shard["images"], *index["shape"]]:
            raise GenForgeError(f"{folder / shard['file']}: holds {images.dtype} {images.shape}, {INDEX} says uint8 "
                                f"{[shard['images'], *index['shape']]}; run the preprocess stage again")
        shards.append(images)
    labels = np.load(folder / LABELS)
    if len(labels) != index["images"]:
        raise GenForgeError(f"{folder / LABELS}: {len(labels)} labels for {index['images']} images; run the "
                            "preprocess stage again")
    return ShardedImages(shards), labels


def load_split(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of a split, read whole: ``uint8 (N, H, W, C)`` and ``int64 (N,)``.

    Raises:
        GenForgeError: as :func:`open_split`.
    """
    images, labels = open_split(folder)
    return np.concatenate(images.shards), labels
