"""Decode a folder of ordinary image files (PNG, JPEG, BMP, GIF, and whatever else Pillow decodes) into equal-sized
images, one file at a time.

Files are decoded by their content, not their extension (Pillow's ``Image.open`` identifies the format from the
file's first bytes). Every image is brought to the configured channels and size the same way:

- transparency (RGBA, LA, and palette images with a transparent colour) is composited over white, as the image
  would show on a white page (Porter & Duff, 1984, "over");
- colour becomes grayscale by Pillow's ITU-R 601-2 luma, ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``
  (Pillow docs, ``Image.convert``), and grayscale becomes colour by repeating the channel;
- 16- and 32-bit grayscale is scaled to 8 bits by its nominal range;
- ``fit: resize`` stretches the image to the size; ``fit: crop`` scales its shorter side to the size and cuts the
  centre (torchvision's ``Resize`` then ``CenterCrop``); both resample with Lanczos;
- an animated GIF gives its first frame.

Labels follow the torchvision ``ImageFolder`` convention: a file under ``<folder>/<class>/...`` has the label
``<class>``; a file directly in the folder has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from genforge import GenForgeError

Fit = Literal["resize", "crop"]
OnCorrupt = Literal["skip", "refuse"]
WHITE = 255


def _flatten(image, channels: int):
    """``image`` as Pillow mode ``L`` (``channels`` 1) or ``RGB`` (3), transparency composited over white."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        bits = 16 if image.mode.startswith("I;16") else 32
        values = np.asarray(image, dtype=np.float64) * (255.0 / (2 ** bits - 1))
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, 255)), rgba)
    return image.convert("L" if channels == 1 else "RGB")


def _fit(image, size: tuple[int, int], fit: Fit):
    """``image`` brought to ``size`` ``(height, width)`` by stretching (``resize``) or by scaling the shorter side
    and cutting the centre (``crop``)."""
    from PIL import Image

    height, width = size
    if fit == "resize":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    scale = max(width / image.width, height / image.height)
    scaled = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                          Image.Resampling.LANCZOS)
    left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def decode_image(path: str | Path, *, channels: int, size: tuple[int, int], fit: Fit = "resize") -> np.ndarray:
    """One image file as ``uint8 (H, W, channels)``, ``(H, W)`` being ``size``.

    Args:
        path: the file; its format is read from its content.
        channels: 1 (grayscale) or 3 (RGB).
        size: ``(height, width)`` in pixels, each ``>= 1``.
        fit: ``resize`` or ``crop`` (see the module's docstring).

    Raises:
        GenForgeError: the file is not an image Pillow can decode, or is truncated or damaged; the message names it.
        ValueError: ``channels``, ``size`` or ``fit`` is not one of the values above.
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3) or fit not in ("resize", "crop") or min(size) < 1:
        raise ValueError(f"channels must be 1 or 3, size two positive numbers, fit resize or crop; got {channels}, "
                         f"{size}, {fit!r}")
    try:
        with Image.open(path) as image:
            image.seek(0)
            image.load()
            array = np.asarray(_fit(_flatten(image, channels), size, fit), dtype=np.uint8)
    except UnidentifiedImageError as e:
        raise GenForgeError(f"{path}: not an image file that Pillow can decode") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or damaged data
        raise GenForgeError(f"{path}: the image is damaged or truncated: {e}") from e
    return array.reshape(*size, channels)


def image_files(folder: str | Path) -> list[Path]:
    """Every regular file under ``folder`` (recursively, sorted by path), hidden files and folders left out.

    Raises:
        GenForgeError: ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GenForgeError(f"{folder}: no such folder of images; point the source at a folder")
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def label_of(relative: Path) -> str | None:
    """The label of a file at ``relative`` (to the folder): its first-level subfolder's name, or ``None``."""
    return relative.parts[0] if len(relative.parts) > 1 else None


def decode_files(folder: str | Path, files: Iterable[Path], *, channels: int, size: tuple[int, int],
                 fit: Fit = "resize", on_corrupt: OnCorrupt = "skip",
                 skipped: list[dict[str, str]]) -> Iterator[tuple[str, np.ndarray]]:
    """Decode ``files`` (under ``folder``) one at a time, in order, by :func:`decode_image`: yield each
    ``(path relative to the folder, POSIX; image uint8 (H, W, channels))``, so that a caller can stream any number
    of images through bounded memory.

    Args:
        skipped: ``skip``: a file that does not decode is left out and ``{"path", "error"}`` appended here.
        on_corrupt: ``skip`` (above) or ``refuse``: a file that does not decode stops the read.
        channels, size, fit: as :func:`decode_image`.

    Raises:
        GenForgeError: (``refuse``) a file does not decode, named with the reason.
        ValueError: ``on_corrupt`` is neither ``skip`` nor ``refuse``.
    """
    if on_corrupt not in ("skip", "refuse"):
        raise ValueError(f"on_corrupt must be skip or refuse, not {on_corrupt!r}")
    folder = Path(folder)
    for path in files:
        relative = path.relative_to(folder).as_posix()
        try:
            image = decode_image(path, channels=channels, size=size, fit=fit)
        except GenForgeError as e:
            if on_corrupt == "refuse":
                raise GenForgeError(f"{e} (on_corrupt: refuse; remove the file or set on_corrupt: skip)") from e
            skipped.append({"path": relative, "error": str(e)})
            continue
        yield relative, image
