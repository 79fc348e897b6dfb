"""Edges-to-drawings pairs: each drawing composited on white, padded to a square, resized, and paired with its Canny
edge map (the recipe by which edges2shoes and edges2handbags were made, Isola et al. 2017, section 4.1; Canny 1986
as scikit-image implements it), and the split by series of drawings.

Images are ``uint8 (N, size, size)``, grayscale: the drawing as its luminance on white paper, the edge map as black
lines (0) on white (255).
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.image2image.pairs import IMAGE_SUFFIXES, read_image, resized


def squared(image: np.ndarray) -> np.ndarray:
    """``image`` ``uint8 (H, W)`` centred on a white square of side ``max(H, W)`` (the extra row or column of an odd
    difference goes below or to the right), so that resizing keeps the drawing's proportions.

    >>> squared(np.zeros((1, 3), np.uint8)).tolist()
    [[255, 255, 255], [0, 0, 0], [255, 255, 255]]
    """
    h, w = image.shape
    side = max(h, w)
    out = np.full((side, side), 255, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = image
    return out


def edge_map(image: np.ndarray, sigma: float) -> np.ndarray:
    """The Canny edges of ``image`` ``uint8 (H, W)`` (``skimage.feature.canny`` on intensities in [0, 1] with a
    Gaussian of ``sigma`` pixels and its default hysteresis thresholds, 0.1 and 0.2 of the largest possible
    gradient): ``uint8 (H, W)``, 0 on an edge, 255 elsewhere."""
    from skimage.feature import canny

    return np.where(canny(image.astype(np.float64) / 255, sigma=sigma), 0, 255).astype(np.uint8)


def list_drawings(folder: Path, exclude: list[str]) -> list[str]:
    """The image files under ``folder`` (posix paths relative to it, sorted), but those matching a pattern of
    ``exclude`` (``fnmatch``, where ``*`` also matches ``/``).

    Raises:
        GenForgeError: ``folder`` is missing or holds no image that ``exclude`` leaves, or a pattern of ``exclude``
            matches no image (a typo would otherwise leave out nothing, silently).
    """
    if not folder.is_dir():
        raise GenForgeError(f"{folder}: not found; preprocess.drawings_folder names the drawings' folder under the "
                            "source (run the collect stage first: `dvc repro collect`)")
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    matches = {pattern: {n for n in names if fnmatch.fnmatchcase(n, pattern)} for pattern in exclude}
    unused = [pattern for pattern, matched in matches.items() if not matched]
    if unused:
        raise GenForgeError(f"{folder}: preprocess.exclude patterns {unused} match no drawing (paths relative to "
                            "the folder, such as 'shapes/stars/*'); correct or remove them")
    excluded = set().union(*matches.values())
    kept = [n for n in names if n not in excluded]
    if not kept:
        raise GenForgeError(f"{folder}: no drawings ({', '.join(IMAGE_SUFFIXES)}) of {len(names)} images are left "
                            f"by preprocess.exclude ({exclude})")
    return kept


def declared_pixels(path: Path) -> int:
    """The pixels ``path``'s image header declares (width x height), read without decoding the image.

    Raises:
        GenForgeError: the file is not an image that Pillow recognises (named).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # Pillow warns of a large header: its size is what is asked for
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size[0] * image.size[1]
    except Image.DecompressionBombError:  # more than twice Pillow's limit: too many, whatever the caller's limit
        return 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1
    except (UnidentifiedImageError, OSError) as e:
        raise GenForgeError(f"{path}: not an image that Pillow can decode ({e}); remove it or add it to "
                            "preprocess.exclude") from None


def drawing_pairs(folder: Path, names: list[str], *, size: int, sigma: float,
                  max_pixels: int) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """The pairs of the drawings ``names`` under ``folder``: ``(names kept, edge maps, drawings)``, both images
    ``uint8 (N, size, size)``, and what was left out and why (``{"too_large": [...], "blank": [...],
    "duplicates": [...]}``, names).

    Each drawing is decoded (:func:`~genforge.image2image.pairs.read_image`: transparency on white, luminance),
    :func:`squared`, resized to ``size`` (Lanczos) and its edges drawn (:func:`edge_map`). Left out: drawings whose
    header declares more than ``max_pixels`` pixels (decoding them would take most of the stage's time and memory),
    drawings without a single edge at ``size`` (nothing to translate) and drawings whose resized image equals an
    earlier one's (a pair in both training and test would score memory, not generalization).

    Raises:
        GenForgeError: a drawing does not decode (named), or none is left.
    """
    kept, edges, drawings, seen = [], [], [], set()
    left_out = {"too_large": [], "blank": [], "duplicates": []}
    for name in names:
        if declared_pixels(folder / name) > max_pixels:
            left_out["too_large"].append(name)
            continue
        drawing = resized(squared(read_image(folder / name)), size)
        edge = edge_map(drawing, sigma)
        pixels = drawing.tobytes()
        why = "blank" if edge.min() == 255 else "duplicates" if pixels in seen else None  # noqa: PLR2004
        if why:
            left_out[why].append(name)
            continue
        seen.add(pixels)
        kept.append(name)
        edges.append(edge)
        drawings.append(drawing)
    if not kept:
        counts = ", ".join(f"{len(v)} {k}" for k, v in left_out.items())
        raise GenForgeError(f"{folder}: none of {len(names)} drawings gives a pair ({counts} left out); a smaller "
                            "preprocess.canny_sigma finds more edges, a larger max_pixels keeps larger drawings")
    return kept, np.stack(edges), np.stack(drawings), left_out


def series_groups(names: list[str]) -> np.ndarray:
    """A group number ``int (N,)`` per drawing: drawings of one folder whose file names differ only in their numbers
    (``arrow1_02.png``, ``arrow3_10.png``: one artist's series, often near copies) share a group, so that a split
    by group never tests a drawing whose sibling was trained on. Groups are numbered by their first member.

    >>> series_groups(["a/star_1.png", "a/star_22.png", "b/star_1.png", "a/moon.png", "v1/x.png", "v2/x.png"]).tolist()
    [0, 0, 2, 3, 4, 5]
    """
    digits = re.compile(r"\d+")
    splits = [name.rpartition("/") for name in names]  # (folder, "/", file name)
    keys = [(folder, digits.sub("#", file.rsplit(".", 1)[0])) for folder, _, file in splits]
    first: dict[tuple[str, str], int] = {}
    return np.array([first.setdefault(key, i) for i, key in enumerate(keys)], dtype=np.int64)
