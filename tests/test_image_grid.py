"""Sample grids and PNG encodings: a small grid laid out by hand, PNG round trips, and refused arrays."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from genforge.image.grid import grid, png_base64, save_png


def test_three_images_in_a_two_column_grid_by_hand():
    images = np.stack([np.full((2, 2, 1), v, np.uint8) for v in (10, 20, 30)])
    out = grid(images, padding=1, background=255)
    # ceil(sqrt(3)) = 2 columns, 2 rows: 2 * (2 + 1) + 1 = 7 pixels each way
    assert out.shape == (7, 7, 1)
    assert out[1:3, 1:3].ravel().tolist() == [10] * 4 and out[1:3, 4:6].ravel().tolist() == [20] * 4
    assert out[4:6, 1:3].ravel().tolist() == [30] * 4 and (out[4:6, 4:6] == 255).all()  # the unused cell
    assert (out[0] == 255).all() and (out[:, 3] == 255).all()  # padding around and between
    assert grid(images, columns=3, padding=0).shape == (2, 6, 1)


def test_png_round_trips_for_gray_and_rgb(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    decoded = Image.open(io.BytesIO(base64.b64decode(png_base64(gray))))
    assert decoded.mode == "L" and np.array_equal(np.asarray(decoded), gray[..., 0])
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    save_png(rgb, tmp_path / "x.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), rgb)


def test_arrays_that_are_not_images_are_refused():
    with pytest.raises(ValueError, match=r"expected uint8 images \(N, H, W, 1 or 3\) with N >= 1, got float32"):
        grid(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 \(0, 2, 2, 1\)"):
        grid(np.zeros((0, 2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match=r"got uint8 \(1, 2, 2, 2\)"):
        png_base64(np.zeros((2, 2, 2), np.uint8))
