"""Glyph pairs: characters rendered in two typefaces with Pillow's FreeType renderer, for translating one face into
another (the task of zi2zi, which applied Pix2Pix to fonts), and the split by character.

Glyph images are ``uint8 (N, size, size)``, black ink on white paper, each glyph centred by its ink's bounding box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError

# the character ranges of preprocess.scripts (first, last + 1), printable characters only
SCRIPT_RANGES = {"ascii": [(0x21, 0x7F)], "latin1": [(0xA1, 0xAD), (0xAE, 0x100)],
                 "greek": [(0x370, 0x400)], "cyrillic": [(0x400, 0x460)]}
FONT_SUFFIXES = (".otf", ".ttf")


def find_face(folder: Path, face: str) -> Path:
    """The font file of ``face`` (its name without suffix) under ``folder``.

    Raises:
        GenForgeError: no such font; the message lists the faces there are.
    """
    fonts = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
    match = [p for p in fonts if p.stem == face]
    if not match:
        names = ", ".join(p.stem for p in fonts) or "none"
        raise GenForgeError(f"{folder}: no font file {face}.otf or {face}.ttf; the faces there: {names}")
    return match[0]


def faces(folder: Path) -> list[Path]:
    """Every font file under ``folder``, by name."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in FONT_SUFFIXES)


def font_characters(path: Path) -> set[int]:
    """The code points the font file ``path`` maps to a glyph (its best Unicode cmap, read with fontTools).

    Raises:
        GenForgeError: the file is not a font fontTools can read.
    """
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(path, lazy=True) as font:
            return set(font.getBestCmap() or {})
    except (TTLibError, OSError, AssertionError) as e:
        raise GenForgeError(f"{path}: not a readable OpenType or TrueType font ({e})") from e


def script_characters(scripts) -> list[int]:
    """The code points of ``scripts`` (keys of :data:`SCRIPT_RANGES`), in order."""
    return [c for s in scripts for first, end in SCRIPT_RANGES[s] for c in range(first, end)]


def render(path: Path, characters, *, size: int, point_size: int) -> np.ndarray:
    """The glyphs of ``characters`` (code points) in the font ``path``: ``uint8 (N, size, size)``, black on white,
    each centred by its ink's bounding box.

    Raises:
        GenForgeError: the font has no glyph for a character, or a glyph is larger than the canvas (both named:
            pick other characters, or lower ``point_size``).
    """
    from PIL import Image, ImageDraw, ImageFont

    have = font_characters(path)
    missing = [f"{chr(c)!r} (U+{c:04X})" for c in characters if c not in have]
    if missing:
        raise GenForgeError(f"{path.name} has no glyph for {', '.join(missing[:10])}"
                            f"{' and more' if len(missing) > 10 else ''}; leave those characters out")  # noqa: PLR2004
    font = ImageFont.truetype(str(path), point_size)
    out = np.empty((len(characters), size, size), np.uint8)
    for i, c in enumerate(characters):
        left, top, right, bottom = font.getbbox(chr(c))
        if right - left > size or bottom - top > size:
            raise GenForgeError(f"{path.name}: {chr(c)!r} (U+{c:04X}) is {right - left}x{bottom - top} pixels at "
                                f"point_size {point_size}, larger than the {size}x{size} canvas; lower "
                                "preprocess.point_size")
        image = Image.new("L", (size, size), 255)
        ImageDraw.Draw(image).text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top), chr(c),
                                   font=font, fill=0)
        out[i] = np.asarray(image)
    return out


def homoglyph_groups(inputs: np.ndarray, targets, tolerance: float) -> np.ndarray:
    """A group number ``int (N,)`` per character: two characters whose input glyphs, or whose target glyphs
    (``uint8 (N, H, W)``, black on white; ``targets`` may be a list of such arrays, one per target face), differ by
    at most ``tolerance`` of their ink (the mean absolute difference
    of pixels in [0, 1] over the larger of the two glyphs' mean darkness) share a group. Latin ``A`` and Greek ``Α``
    are one drawing in many faces (the same input, sometimes two targets), and so are ``I`` and ``l`` in a sans
    face; a split by group never tests an input or a target that training has nearly seen. Groups are the connected
    components of that relation, numbered by their first member.

    >>> a = np.full((3, 2, 2), 255, np.uint8); a[:, 0, 0] = 0; a[2, 1, 1] = 0  # 1, 1 and 2 dark pixels
    >>> homoglyph_groups(a, a, 0.2).tolist()
    [0, 0, 2]
    """
    n = len(inputs)
    groups = np.arange(n)
    near = np.zeros((n, n), bool)
    for images in (inputs, *(targets if isinstance(targets, list) else [targets])):
        x = images.reshape(n, -1).astype(np.float32) / 255
        ink = (1 - x).mean(1)
        for i in range(n):
            near[i] |= np.abs(x - x[i]).mean(1) <= tolerance * np.maximum(np.maximum(ink, ink[i]), 1e-6)
    for i, j in zip(*np.nonzero(np.triu(near, 1)), strict=True):
        old, new = max(groups[i], groups[j]), min(groups[i], groups[j])
        groups[groups == old] = new
    return groups


def split_groups(groups: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Indices ``{"train", "val", "test"}`` of the items of ``groups`` (a group number per item): whole groups are
    shuffled with ``seed`` and dealt to test (``test_fraction`` of the groups, at least one), val (``val_fraction``,
    at least one) and train (the rest), so that no group is in two splits.

    Raises:
        GenForgeError: fewer than 3 groups, or none left for training by the two fractions.
    """
    names = np.unique(groups)
    if len(names) < 3:  # noqa: PLR2004
        raise GenForgeError(f"{len(names)} distinct groups (characters, series of drawings or pairs): at least 3 are "
                            "needed for the train, val and test splits")
    order = np.random.default_rng(seed).permutation(names)
    n_test = max(1, round(len(names) * test_fraction))
    n_val = max(1, round(len(names) * val_fraction))
    if n_test + n_val >= len(names):
        raise GenForgeError(f"preprocess.val_fraction ({val_fraction}) and test_fraction ({test_fraction}) take "
                            f"{n_val} and {n_test} of the {len(names)} groups (characters, series of drawings or "
                            "pairs), leaving none for training: lower them or add data")
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return {k: np.flatnonzero(np.isin(groups, v)) for k, v in parts.items()}
