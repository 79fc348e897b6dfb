"""Paired images from two folders matched by file name (``A/x.png`` -> ``B/x.png``), as ``uint8 (N, H, W, 1)``
grayscale arrays at a fixed size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_image(path: Path) -> np.ndarray:
    """One image file as grayscale ``uint8 (H, W)`` (:func:`decode_image`).

    Raises:
        GenForgeError: the file cannot be read (a folder, a broken link) or does not decode as an image (named).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise GenForgeError(f"{path}: cannot be read as an image file ({e.strerror}); remove or replace it") from None
    return decode_image(data, str(path))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, ...) as grayscale ``uint8 (H, W)``: transparency composited on white
    (drawings on paper), colour converted to luminance (ITU-R 601-2, Pillow's ``L``), 16-bit grayscale scaled to 8
    bits (value / 257, rounded: 65535 is 255). An animated image gives its first frame.

    Raises:
        GenForgeError: the bytes do not decode as an image, or declare more pixels than Pillow's limit
            (``PIL.Image.MAX_IMAGE_PIXELS``, a guard against decompression bombs); the message names ``name``.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode.startswith("I"):  # 16-bit grayscale (I;16, I;16B) or 32-bit integer holding 16-bit values
                wide = np.asarray(image, np.float64)
                return np.clip(np.rint(wide / 257), 0, 255).astype(np.uint8)
            if image.mode in ("RGBA", "LA", "P", "PA"):
                image = image.convert("RGBA")
                paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(paper, image)
            return np.asarray(image.convert("L"))
    except Image.DecompressionBombError as e:
        raise GenForgeError(f"{name}: declares more pixels than Pillow decodes safely ({e}); resize it first") \
            from None
    except UnidentifiedImageError:
        raise GenForgeError(f"{name}: not an image that Pillow can decode (unrecognised data); remove or replace it") \
            from None
    except (OSError, ValueError) as e:
        raise GenForgeError(f"{name}: not an image that Pillow can decode ({e}); remove or replace it") from e


def resized(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` ``uint8 (H, W)`` resized to ``(size, size)`` (Lanczos; unchanged when it is already that size)."""
    from PIL import Image

    if image.shape == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def paired_folder(inputs: Path, targets: Path, size: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The pairs of two folders matched by relative file name: names, inputs and targets ``uint8 (N, size, size)``.

    Raises:
        GenForgeError: a folder is missing or empty; a file has no partner (every such file listed by name); the two
            images of a pair differ in size (named: the pair must be aligned pixel for pixel); a file does not decode.
    """
    listed = {}
    for folder in (inputs, targets):
        if not folder.is_dir():
            raise GenForgeError(f"{folder}: not found; a paired source holds the input and target folders named by "
                                "preprocess.input_folder and preprocess.target_folder")
        listed[folder] = {p.relative_to(folder).as_posix() for p in folder.rglob("*")
                          if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
    a, b = listed[inputs], listed[targets]
    alone = sorted(f"{inputs.name}/{n}" for n in a - b) + sorted(f"{targets.name}/{n}" for n in b - a)
    if alone:
        raise GenForgeError(f"{len(alone)} images without their partner: {', '.join(alone[:20])}; every input needs "
                            "a target of the same file name")
    names = sorted(a)
    if not names:
        raise GenForgeError(f"{inputs}: no images ({', '.join(IMAGE_SUFFIXES)})")
    xs, ys = [], []
    for name in names:
        x, y = read_image(inputs / name), read_image(targets / name)
        if x.shape != y.shape:
            raise GenForgeError(f"the pair {name} differs in size: {inputs.name}/{name} is {x.shape[1]}x{x.shape[0]}, "
                                f"{targets.name}/{name} is {y.shape[1]}x{y.shape[0]}; a pair must be aligned pixel "
                                "for pixel")
        xs.append(resized(x, size))
        ys.append(resized(y, size))
    return names, np.stack(xs), np.stack(ys)


def categories(names: list[str]) -> tuple[list[str], np.ndarray]:
    """The category of each pair, its name's first folder (``animals/birds/crow.png``: ``animals``; a file at the
    top: ``.``): the category names, sorted, and each name's index among them ``int (N,)``. The edges and folder
    formats label their training targets so for the feature network of FID and KID.

    >>> categories(["b/x.png", "a/c/y.png", "z.png"])
    (['.', 'a', 'b'], array([2, 1, 0]))
    """
    tops = [name.split("/", 1)[0] if "/" in name else "." for name in names]
    labels = sorted(set(tops))
    return labels, np.array([labels.index(t) for t in tops])
