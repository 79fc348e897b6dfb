"""A split streamed into .npy shards and read back whole or on demand (genforge.image.shards)."""

import json

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.image.shards import load_split, open_split, split_digest, write_split


def _images(n: int) -> np.ndarray:
    return np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1)


def test_a_split_streams_into_shards_and_reads_back_whole_or_gathered(tmp_path):
    images = _images(5)
    assert write_split(tmp_path / "train", zip(images, [3, 1, 4, 1, 5], strict=True), shard_images=2) == 5
    index = json.loads((tmp_path / "train/index.json").read_text())
    assert [s["images"] for s in index["shards"]] == [2, 2, 1] and index["shape"] == [2, 2, 1]
    got, labels = load_split(tmp_path / "train")
    assert np.array_equal(got, images) and labels.tolist() == [3, 1, 4, 1, 5] and labels.dtype == np.int64
    mapped, _ = open_split(tmp_path / "train")
    assert len(mapped) == 5 and mapped.shape == (5, 2, 2, 1)
    assert np.array_equal(mapped[[4, 0, 3, 3]], images[[4, 0, 3, 3]])  # across shards, in the order asked
    assert np.array_equal(mapped[1:4], images[1:4])
    with pytest.raises(IndexError, match=r"in \[0, 5\), got 0..5"):
        mapped[[0, 5]]


def test_equal_splits_have_equal_digests_and_a_rewrite_replaces_the_split_whole(tmp_path):
    write_split(tmp_path / "a", zip(_images(3), [0, 1, 2], strict=True), shard_images=2)
    write_split(tmp_path / "b", zip(_images(3), [0, 1, 2], strict=True), shard_images=2)
    assert split_digest(tmp_path / "a") == split_digest(tmp_path / "b")
    write_split(tmp_path / "b", zip(_images(3), [0, 1, 1], strict=True), shard_images=2)
    assert split_digest(tmp_path / "a") != split_digest(tmp_path / "b")
    write_split(tmp_path / "b", zip(_images(1), [0], strict=True), shard_images=2)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["images-00000.npy", "index.json", "labels.npy"]


def test_bad_splits_are_refused_by_name_and_leave_the_old_split(tmp_path):
    write_split(tmp_path / "train", zip(_images(2), [0, 1], strict=True), shard_images=2)
    before = split_digest(tmp_path / "train")
    mixed = [(np.zeros((2, 2, 1), np.uint8), 0), (np.zeros((3, 2, 1), np.uint8), 1)]
    with pytest.raises(GenForgeError, match=r"train: image 1 is uint8 \(3, 2, 1\), the split's first image uint8 "):
        write_split(tmp_path / "train", mixed, shard_images=2)
    with pytest.raises(GenForgeError, match=r"image 0 is float32"):
        write_split(tmp_path / "train", [(np.zeros((2, 2, 1), np.float32), 0)], shard_images=2)
    with pytest.raises(GenForgeError, match="no images to write; the split is empty"):
        write_split(tmp_path / "train", [], shard_images=2)
    assert split_digest(tmp_path / "train") == before
    with pytest.raises(ValueError, match="shard_images must be at least 1"):
        write_split(tmp_path / "x", [], shard_images=0)
    with pytest.raises(GenForgeError, match=r"val: no split here \(no index.json\); run the preprocess stage"):
        load_split(tmp_path / "val")
    np.save(tmp_path / "train/images-00000.npy", np.zeros((1, 2, 2, 1), np.uint8))  # a shard cut short
    with pytest.raises(GenForgeError, match=r"images-00000.npy: holds uint8 \(1, 2, 2, 1\), index.json says uint8 "
                                            r"\[2, 2, 2, 1\]; run the preprocess stage again"):
        open_split(tmp_path / "train")
