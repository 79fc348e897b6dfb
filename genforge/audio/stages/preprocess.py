"""preprocess: cut the ABC files of the generator's sources into tunes, keep those music21 reads, split them by
tune, and write character token arrays (the text modality's char tokenizer) and each split's melodies."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.audio.abc import MAX_CHARACTERS, Tune, parsed_events, split_tunes
from genforge.core.config import Job
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.sources import MANIFEST
from genforge.text.data import split_documents
from genforge.text.tokenizers import make_tokenizer

SPLITS = ("train", "val", "test")
MELODIES = "melodies.json"  # in paths.processed: min_notes and each split's melodies, [[pitch, quarter notes], ...]
TUNE_SEPARATOR = "\n"  # tunes are joined with an empty line between them: a sampled tune ends at "\n\n"


def _read_tunes(job: Job) -> tuple[list[Tune], list[str]]:
    """Every tune of the ABC files of the generator's sources, and the reasons of those skipped."""
    raw = Path(job.paths.raw)
    files = read_json(raw / MANIFEST).get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and "path" in f for f in files):
        raise GenForgeError(f"{raw / MANIFEST}: not a collect manifest; re-run the collect stage")
    files = [f for f in files if f.get("source") in job.data and f["path"].lower().endswith(".abc")]
    if not files:
        raise GenForgeError(f"{raw / MANIFEST} lists no .abc file of the sources {job.data} (generators.{job.name}"
                            ".data); re-run the collect stage (`dvc repro collect`) or check the sources' members")
    tunes, skipped = [], []
    for entry in files:
        path = raw / entry["path"]
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as e:
            raise GenForgeError(f"{path}: listed in {raw / MANIFEST} but unreadable ({e}); re-run collect") from None
        except UnicodeDecodeError:
            text = path.read_bytes().decode("latin-1")  # older ABC files are Latin-1; every byte decodes
        found, bad = split_tunes(text, entry["path"], job.preprocess.fields)
        tunes += found
        skipped += bad
    return tunes, skipped


def _parse_all(tunes: list[Tune], min_notes: int) -> list:
    """:func:`parsed_events` of each tune, in order, over the machine's cores (music21 reads about 20 tunes/s)."""
    texts = [t.text for t in tunes]
    with ProcessPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return list(pool.map(parsed_events, texts, [min_notes] * len(texts), chunksize=32))


def preprocess(job: Job) -> dict:
    """Write ``paths.processed/{train,val,test}.npy`` (char token ids of the split's tunes, one empty line between
    tunes), ``tokenizer.json``, ``splits.json`` (tune names per split), ``melodies.json`` (``min_notes`` and each
    split's melodies as ``[pitch, quarter notes]`` events) and ``paths.metrics/preprocess.json`` (tunes, characters,
    tokens and notes per split, and every skipped tune by name with why).

    A tune is kept when it has every field of ``preprocess.fields`` and music21 reads it with at least
    ``preprocess.min_notes`` notes (:func:`genforge.audio.abc.parsed_events`).

    Raises:
        GenForgeError: no ABC file among the sources, no tune left, or a split without tunes.
    """
    cfg = job.preprocess
    tunes, skipped = _read_tunes(job)
    melodies = {}
    for tune, notes in zip(tunes, _parse_all(tunes, cfg.min_notes), strict=True):
        if notes is None:
            skipped.append(f"{tune.name}: music21 does not read it, or it has fewer than {cfg.min_notes} notes"
                           + (f" (it is longer than {MAX_CHARACTERS:,} characters)" if len(tune.text) > MAX_CHARACTERS
                              else ""))
        else:
            melodies[tune.name] = (tune.text, notes)
    if len(melodies) < 3:
        raise GenForgeError(f"{len(melodies)} tune(s) parse out of {len(tunes)} (skipped: {skipped[:5]}): a train, "
                            "val and test split need at least one each; check the sources and preprocess.fields")
    splits = split_documents(sorted(melodies), cfg.val_fraction, cfg.test_fraction, job.seed)
    texts = {s: TUNE_SEPARATOR.join(melodies[n][0] for n in splits[s]) for s in SPLITS}
    tokenizer = make_tokenizer("char", texts["train"])
    ids = {s: tokenizer.encode(texts[s]) for s in SPLITS}
    stats = {"vocab_size": tokenizer.vocab_size, "tunes_kept": len(melodies), "tunes_skipped": len(skipped),
             "skipped": skipped}
    for s in SPLITS:
        stats[s] = {"tunes": len(splits[s]), "characters": len(texts[s]), "tokens": int(ids[s].size),
                    "notes": sum(len(melodies[n][1]) for n in splits[s]),
                    "unknown_tokens": int((ids[s] == 0).sum())}
    processed = Path(job.paths.processed)
    for s in SPLITS:
        with atomic_path(processed / f"{s}.npy") as tmp:
            np.save(tmp, ids[s].astype(tokenizer.storage_dtype))
    tokenizer.save(processed / "tokenizer.json")
    write_json(processed / "splits.json", splits)
    write_json(processed / MELODIES, {"min_notes": cfg.min_notes, **{s: [melodies[n][1] for n in splits[s]]
                                                                     for s in SPLITS}})
    write_json(Path(job.paths.metrics) / "preprocess.json", stats)
    return {"tunes": len(melodies), "skipped": len(skipped), "vocab_size": tokenizer.vocab_size,
            **{f"{s}_tunes": len(splits[s]) for s in SPLITS}}
