"""preprocess: read the WAV files of the generator's sources as mono audio at one sample rate, split them by file
(the files named in preprocess.val_files and test_files), and write each split's 8-bit mu-law codes."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

import numpy as np

from genforge import GenForgeError
from genforge.core.config import Job
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.sources import MANIFEST
from genforge.text.tokenizers import ByteTokenizer
from genforge.waveform.mulaw import encode
from genforge.waveform.wav import read_wav

SPLITS = ("train", "val", "test")
AUDIO_JSON = "audio.json"  # in paths.processed: the sample rate of the codes (the later stages read it here)


def sample_rate(job: Job) -> int:
    """The sample rate (Hz) of generator ``job``'s preprocessed codes, from ``paths.processed/audio.json``: the later
    stages depend on the processed folder, not on the preprocess section.

    Raises:
        GenForgeError: the file is missing (run the preprocess stage).
    """
    return int(read_json(Path(job.paths.processed) / AUDIO_JSON)["sample_rate"])


def _wav_files(job: Job) -> list[str]:
    """The manifest paths of the generator's sources' WAV files, in manifest order."""
    raw = Path(job.paths.raw)
    files = read_json(raw / MANIFEST).get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and "path" in f for f in files):
        raise GenForgeError(f"{raw / MANIFEST}: not a collect manifest; re-run the collect stage")
    paths = [f["path"] for f in files if f.get("source") in job.data and f["path"].lower().endswith(".wav")]
    if not paths:
        raise GenForgeError(f"{raw / MANIFEST} lists no .wav file of the sources {job.data} (generators.{job.name}"
                            ".data); re-run the collect stage (`dvc repro collect`) or check the sources' members")
    return paths


def _split_of(name: str, job: Job) -> str | None:
    """The split of the file called ``name`` (``None``: excluded).

    Raises:
        GenForgeError: globs of two of ``exclude``, ``val_files`` and ``test_files`` match it.
    """
    cfg = job.preprocess
    keys = {"exclude": None, "test_files": "test", "val_files": "val"}
    hits = {key: [g for g in getattr(cfg, key) if fnmatch(name, g)] for key in keys}
    matched = [key for key in keys if hits[key]]
    if len(matched) > 1:
        raise GenForgeError(f"{name}: matched by generators.{job.name}.preprocess." + " and by ".join(
            f"{key} {hits[key][0]!r}" for key in matched) + "; a file belongs to one split: narrow the globs")
    return keys[matched[0]] if matched else "train"


def _check_globs(names: list[str], job: Job) -> None:
    for key in ("exclude", "val_files", "test_files"):
        for glob in getattr(job.preprocess, key):
            if not any(fnmatch(n, glob) for n in names):
                raise GenForgeError(f"generators.{job.name}.preprocess.{key}: {glob!r} matches none of the "
                                    f"{len(names)} WAV files ({', '.join(sorted(names)[:8])}, ...); fix the name")


def preprocess(job: Job) -> dict:
    """Write ``paths.processed/{train,val,test}.npy`` (``uint8`` mu-law codes of the split's files, one after
    another, :func:`genforge.waveform.mulaw.encode`), ``audio.json`` (the sample rate), ``tokenizer.json`` (the byte
    tokenizer: 256 classes),
    ``splits.json`` (file names per split) and ``paths.metrics/preprocess.json`` (seconds and samples per split;
    each file's split, seconds and conversions; every file left out, by name, with why).

    A file is left out when ``preprocess.exclude`` names it, or when it cannot be read (a corrupt or non-audio
    file). Another sample rate is resampled and several channels are mixed to mono (:func:`read_wav`), noted.

    Raises:
        GenForgeError: no WAV file among the sources, a glob of ``exclude``, ``val_files`` or ``test_files`` that
            matches no file, or a split without audio.
    """
    cfg = job.preprocess
    paths = _wav_files(job)
    _check_globs([PurePosixPath(p).name for p in paths], job)
    codes = {s: [] for s in SPLITS}
    files, skipped, splits = {}, [], {s: [] for s in SPLITS}
    for path in paths:
        name = PurePosixPath(path).name
        split = _split_of(name, job)
        if split is None:
            skipped.append(f"{path}: excluded by preprocess.exclude")
            continue
        try:
            samples, notes = read_wav(Path(job.paths.raw) / path, cfg.sample_rate)
        except GenForgeError as e:
            skipped.append(str(e))
            continue
        codes[split].append(encode(samples))
        splits[split].append(path)
        files[path] = {"split": split, "seconds": len(samples) / cfg.sample_rate, "converted": notes}
    empty = [s for s in SPLITS if not codes[s]]
    if empty:
        raise GenForgeError(f"no readable WAV file in the {', '.join(empty)} split(s) (kept: "
                            f"{ {s: len(splits[s]) for s in SPLITS} }, left out: {skipped[:5]}); check "
                            f"generators.{job.name}.preprocess.exclude, val_files and test_files: the files they "
                            "do not name train")
    processed = Path(job.paths.processed)
    stats = {"sample_rate": cfg.sample_rate, "classes": 256, "files_kept": len(files), "files_skipped": len(skipped),
             "skipped": skipped, "files": files}
    for s in SPLITS:
        joined = np.concatenate(codes[s])
        with atomic_path(processed / f"{s}.npy") as tmp:
            np.save(tmp, joined)
        stats[s] = {"files": len(splits[s]), "samples": int(joined.size), "seconds": joined.size / cfg.sample_rate}
    ByteTokenizer().save(processed / "tokenizer.json")
    write_json(processed / AUDIO_JSON, {"sample_rate": cfg.sample_rate, "encoding": "mu-law, 8 bits"})
    write_json(processed / "splits.json", splits)
    write_json(Path(job.paths.metrics) / "preprocess.json", stats)
    return {"files": len(files), "skipped": len(skipped), **{f"{s}_seconds": round(stats[s]["seconds"], 2)
                                                              for s in SPLITS}}
