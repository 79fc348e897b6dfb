"""A folder of ordinary image files into equal-sized arrays, on tiny fixtures written here; expected pixels worked out
by hand from the conversion rules (alpha over white, ITU-R 601-2 luma, centre crop)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge import GenForgeError
from genforge.image.folder import decode_files, decode_image, image_files, label_of


def read_folder(folder, **settings):
    """Every file under ``folder`` through :func:`decode_files`: ``(paths, images, labels, skipped)``."""
    skipped = []
    decoded = list(decode_files(folder, image_files(folder), skipped=skipped, **settings))
    paths = [path for path, _ in decoded]
    return paths, np.stack([image for _, image in decoded]) if decoded else None, \
        [label_of(Path(p)) for p in paths], skipped


def solid(mode, size, colour):
    return Image.new(mode, size, colour)


def test_transparency_is_composited_over_white_and_colour_becomes_luma(tmp_path):
    solid("RGBA", (3, 2), (255, 0, 0, 128)).save(tmp_path / "half-red.png")
    rgb = decode_image(tmp_path / "half-red.png", channels=3, size=(2, 3))
    # 128/255 red over white: R = 255, G = B = 255 * (1 - 128/255) = 127
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - [255, 127, 127]).max() <= 1
    solid("RGB", (3, 2), (255, 0, 0)).save(tmp_path / "red.bmp")
    gray = decode_image(tmp_path / "red.bmp", channels=1, size=(2, 3))
    assert gray.shape == (2, 3, 1) and (gray == 76).all()  # 255 * 299 / 1000 = 76.2
    solid("L", (3, 2), 100).save(tmp_path / "gray.png")
    assert (decode_image(tmp_path / "gray.png", channels=3, size=(2, 3)) == 100).all()  # the channel repeated


def test_palette_gif_with_a_transparent_colour_and_16_bit_grayscale(tmp_path):
    gif = Image.new("P", (2, 2), 0)
    gif.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    gif.putpixel((1, 1), 1)
    gif.save(tmp_path / "p.gif", transparency=0)
    out = decode_image(tmp_path / "p.gif", channels=3, size=(2, 2))
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [0, 0, 255]  # transparent -> white
    deep = Image.fromarray(np.array([[65535, 32768]], dtype=np.uint16))
    deep.save(tmp_path / "deep.png")
    assert decode_image(tmp_path / "deep.png", channels=1, size=(1, 2)).ravel().tolist() == [255, 128]


def test_centre_crop_keeps_the_middle_columns(tmp_path):
    Image.fromarray(np.array([[10, 20, 30, 40]] * 2, dtype=np.uint8)).save(tmp_path / "wide.png")
    # 4 x 2 to 2 x 2: the shorter side (2) already fits, so the centre columns 1 and 2 stay
    out = decode_image(tmp_path / "wide.png", channels=1, size=(2, 2), fit="crop")
    assert out[..., 0].tolist() == [[20, 30], [20, 30]]


def test_a_folder_decodes_by_content_with_mixed_sizes_modes_and_labels(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    solid("RGB", (10, 20), (0, 0, 0)).save(tmp_path / "cats/a.png")
    solid("L", (30, 30), 255).save(tmp_path / "cats/b.jpg", format="JPEG")
    solid("RGBA", (5, 7), (0, 255, 0, 255)).save(tmp_path / "dogs/c.jpg", format="PNG")  # a PNG named .jpg
    solid("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "loose.bmp")
    (tmp_path / ".DS_Store").write_bytes(b"\0" * 10)  # hidden: not read
    paths, images, labels, skipped = read_folder(tmp_path, channels=3, size=(8, 8))
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.uint8
    assert paths == ["cats/a.png", "cats/b.jpg", "dogs/c.jpg", "loose.bmp"]
    assert labels == ["cats", "cats", "dogs", None] and skipped == []
    assert (images[2] == [0, 255, 0]).all()


def test_corrupt_files_are_skipped_and_listed_or_refused_by_name(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "good.png")  # noise does not compress: most of the file is pixel data
    (tmp_path / "noise.png").write_bytes(b"this is not an image")
    whole = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    paths, _, _, skipped = read_folder(tmp_path, channels=1, size=(4, 4))
    assert paths == ["good.png"]
    assert [s["path"] for s in skipped] == ["cut.png", "noise.png"]
    assert "not an image" in skipped[1]["error"]
    with pytest.raises(GenForgeError, match=r"cut.png: the image is damaged or truncated.*on_corrupt: refuse"):
        read_folder(tmp_path, channels=1, size=(4, 4), on_corrupt="refuse")


def test_bad_folders_and_settings_are_refused(tmp_path):
    with pytest.raises(GenForgeError, match="no such folder of images"):
        read_folder(tmp_path / "missing", channels=1, size=(4, 4))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        decode_image(tmp_path / "notes.txt", channels=2, size=(4, 4))
    with pytest.raises(ValueError, match="on_corrupt must be skip or refuse"):
        read_folder(tmp_path, channels=1, size=(4, 4), on_corrupt="ignore")
