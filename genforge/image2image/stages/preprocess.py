"""preprocess: build an image-to-image generator's pairs: glyphs of every character two typefaces share, split by
character, with every face's glyphs of the training characters for the typeface classifier of the evaluate stage;
drawings paired with their edge maps, split by series; or the pairs of two folders matched by file name, split by
name; for these two, the training targets' categories (first folders) for the evaluate stage's classifier."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.config import Job
from genforge.core.files import atomic_path, md5_file, write_json
from genforge.image2image.drawings import drawing_pairs, list_drawings, series_groups
from genforge.image2image.glyphs import (
    faces,
    find_face,
    font_characters,
    homoglyph_groups,
    render,
    script_characters,
    split_groups,
)
from genforge.image2image.pairs import categories, paired_folder
from genforge.image2image.training import DATASET, DOMAIN, DOMAIN_LABELS, FACES, SPLITS

NAMES = ("names", "left_out_names")  # dataset.json's lists of file names, left out of the metrics file


def _source_folder(job: Job) -> Path:
    if len(job.data) != 1:
        raise GenForgeError(f"generators.{job.name}.data: an image-to-image generator reads one source (a folder of "
                            f"fonts or of paired images), got {job.data}")
    folder = Path(job.paths.raw) / job.data[0]
    if not folder.is_dir():
        raise GenForgeError(f"{folder}: not found; run the collect stage first (`dvc repro collect`)")
    return folder


def _glyphs(job: Job, folder: Path) -> tuple[dict, dict]:
    """Every character of ``preprocess.scripts`` that the source face and every target face have, split by
    homoglyph group; with ``target_faces`` (zi2zi) each character once per target face, its face index beside it;
    the domain images: the training characters in every face of the source that has them all, labelled by face."""
    cfg = job.preprocess
    names = cfg.target_faces or [cfg.target_face]
    source, targets = find_face(folder, cfg.source_face), [find_face(folder, name) for name in names]
    shared = font_characters(source).intersection(*(font_characters(t) for t in targets))
    chars = [c for c in script_characters(cfg.scripts) if c in shared]
    x = render(source, chars, size=cfg.size, point_size=cfg.point_size)
    ys = [render(target, chars, size=cfg.size, point_size=cfg.point_size) for target in targets]
    inked = np.all([(a < 255).any(axis=(1, 2)) for a in (x, *ys)], axis=0)  # a blank glyph teaches nothing
    chars, x, ys = [c for c, k in zip(chars, inked, strict=True) if k], x[inked], [y[inked] for y in ys]
    groups = homoglyph_groups(x, ys, cfg.homoglyph_tolerance)
    index = split_groups(groups, cfg.val_fraction, cfg.test_fraction, job.seed)
    train_chars = [chars[i] for i in index["train"]]
    domain, labels, domain_names = [], [], []
    for face in faces(folder):
        if set(train_chars) <= font_characters(face):
            domain.append(render(face, train_chars, size=cfg.size, point_size=cfg.point_size))
            labels.append(np.full(len(train_chars), len(domain_names)))
            domain_names.append(face.stem)
    arrays = {}
    for split, rows in index.items():  # face-major: every character in the first target face, then the next
        arrays[f"{split}_input"] = np.concatenate([x[rows]] * len(ys))[..., None]
        arrays[f"{split}_target"] = np.concatenate([y[rows] for y in ys])[..., None]
        if cfg.target_faces:
            arrays[f"{split}_{FACES}"] = np.repeat(np.arange(len(ys), dtype=np.int32), len(rows))
    arrays[DOMAIN], arrays[DOMAIN_LABELS] = np.concatenate(domain)[..., None], np.concatenate(labels)
    details = {"characters": {s: "".join(chr(chars[i]) for i in index[s]) for s in index},
               "shared_characters": len(chars), "homoglyphs_merged": len(chars) - len(np.unique(groups)),
               "domain_faces": domain_names,
               **({"target_faces": names, "default_face": cfg.target_face} if cfg.target_faces else {})}
    return arrays, details


def _edges(job: Job, folder: Path) -> tuple[dict, dict]:
    """The drawings' pairs (edge map -> drawing) split by series, and what was left out."""
    cfg = job.preprocess
    root = folder / cfg.drawings_folder
    names, x, y, left_out = drawing_pairs(root, list_drawings(root, cfg.exclude), size=cfg.size,
                                          sigma=cfg.canny_sigma, max_pixels=cfg.max_pixels)
    arrays, details = _split_by_name(job, names, series_groups(names), (x, y))
    return arrays, {**details, "left_out": {why: len(v) for why, v in left_out.items()}, "left_out_names": left_out}


def _folder(job: Job, folder: Path) -> tuple[dict, dict]:
    cfg = job.preprocess
    names, x, y = paired_folder(folder / cfg.input_folder, folder / cfg.target_folder, cfg.size)
    return _split_by_name(job, names, np.arange(len(names)), (x, y))


def _split_by_name(job: Job, names: list[str], groups: np.ndarray, pairs: tuple) -> tuple[dict, dict]:
    """The named pairs ``(inputs, targets)`` split by ``groups``; the domain images: the training targets labelled
    by category, their first folder (:func:`genforge.image2image.pairs.categories`), where there are two or
    more categories for the feature network of FID and KID to tell apart."""
    cfg = job.preprocess
    index = split_groups(groups, cfg.val_fraction, cfg.test_fraction, job.seed)
    arrays = {f"{split}_{side}": a[rows, ..., None] for split, rows in index.items()
              for side, a in zip(("input", "target"), pairs, strict=True)}
    labels, domain_labels = categories([names[i] for i in index["train"]])
    if len(labels) > 1:
        arrays[DOMAIN], arrays[DOMAIN_LABELS] = arrays["train_target"], domain_labels
    return arrays, {"names": {s: [names[i] for i in rows] for s, rows in index.items()}, "domain_classes": labels}


def preprocess(job: Job) -> dict:
    """Write ``paths.processed/{train,val,test}_{input,target}.npy`` (``uint8 (N, size, size, 1)``, black on
    white; with ``target_faces`` also ``{split}_face.npy``, ``int32 (N,)``, the index of each pair's target face in
    dataset.json's ``target_faces``), for glyphs ``domain.npy`` and ``domain_labels.npy`` (the training characters
    in every face, labelled by face; for edges and folders the training targets, labelled by their first folder,
    where there are two or more such categories), ``dataset.json``; and ``paths.metrics/preprocess.json``
    (dataset.json without the pairs' names).

    Glyphs: the characters of ``preprocess.scripts`` that ``source_face`` and ``target_face`` (with
    ``target_faces``, every one of them: zi2zi's one generator for several faces) have, rendered
    (:func:`genforge.image2image.glyphs.render`), blank glyphs dropped, split by character: whole homoglyph groups
    go to one split (:func:`~genforge.image2image.glyphs.split_groups` with ``seed``), so the test characters are
    never seen in training in any face. Edges: the drawings under ``drawings_folder`` but ``exclude``, each paired
    with its Canny edge map (:func:`genforge.image2image.drawings.drawing_pairs`: too large, blank and duplicate
    drawings left out, named in dataset.json's ``left_out_names``), split by series
    (:func:`~genforge.image2image.drawings.series_groups`). Folder: the pairs of ``input_folder`` and
    ``target_folder``, split by name.

    Raises:
        GenForgeError: the source, a face or the drawings' folder is missing, a pair is broken
            (:func:`genforge.image2image.pairs.paired_folder`), a drawing does not decode, or there are fewer than 3
            characters, series or pairs.
    """
    cfg = job.preprocess
    start = time.perf_counter()
    folder = _source_folder(job)
    arrays, details = {"glyphs": _glyphs, "edges": _edges, "folder": _folder}[cfg.format](job, folder)
    with atomic_path(job.paths.processed, is_dir=True) as tmp:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        summary = {"format": cfg.format, "size": cfg.size, **{f"{s}_pairs": len(arrays[f"{s}_input"]) for s in SPLITS},
                   **details, "md5": {name: md5_file(tmp / f"{name}.npy") for name in arrays}}
        write_json(tmp / DATASET, summary)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_json(Path(job.paths.metrics) / "preprocess.json", {k: v for k, v in summary.items() if k not in NAMES})
    return {"format": cfg.format, **{f"{s}_pairs": summary[f"{s}_pairs"] for s in SPLITS}}
