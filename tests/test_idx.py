"""IDX decoding on hand-made files (header bytes written out by hand) and the errors bad files get."""

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.core.idx import read_idx


def test_images_and_labels_hand_made(tmp_path):
    # 2 images of 2x3 unsigned bytes: magic 00 00 08 03, sizes 2, 2, 3 (big-endian), then 12 pixels
    (tmp_path / "img").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, *range(12)]))
    images = read_idx(tmp_path / "img")
    assert images.shape == (2, 2, 3) and images.dtype == np.uint8
    assert images[1, 0].tolist() == [6, 7, 8]
    # int16 labels -2 and 258, big-endian: ff fe and 01 02
    (tmp_path / "lab").write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x02]))
    labels = read_idx(tmp_path / "lab")
    assert labels.tolist() == [-2, 258] and labels.dtype == np.int16 and labels.dtype.byteorder in "=<|"


def test_bad_files_are_refused_by_name(tmp_path):
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(GenForgeError, match=r"png: not an IDX file \(it starts 89504e47"):
        read_idx(tmp_path / "png")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3]))
    with pytest.raises(GenForgeError, match=r"short: the IDX header says shape \(5,\) of uint8 \(13 bytes in all\), "
                                            r"the file has 11 bytes"):
        read_idx(tmp_path / "short")
    (tmp_path / "cut").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(GenForgeError, match="declares 3 dimensions but the file ends inside it"):
        read_idx(tmp_path / "cut")
