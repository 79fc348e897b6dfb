"""preprocess: clean the raw documents, split them by document, tokenize, write token arrays and stats."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.config import Job
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.sources import MANIFEST
from genforge.text.clean import clean
from genforge.text.data import split_documents
from genforge.text.tokenizers import make_tokenizer

SPLITS = ("train", "val", "test")


def preprocess(job: Job) -> dict:
    """Read the files of the generator's sources (``data``) from the collect manifest; write
    ``paths.processed/{train,val,test,domain}.npy`` (compact unsigned token ids), ``tokenizer.json`` and
    ``splits.json`` (documents per split), and ``paths.metrics/preprocess.json`` (characters, tokens and documents
    per split, vocabulary size, unknown tokens).

    Documents whose manifest path matches the glob ``preprocess.domain`` are kept out of train, val and test: they
    form the held-out domain (``domain.npy``, encoded with the training split's tokenizer; empty when the glob is
    ``""``) on which the evaluate stage measures adaptability."""
    cfg = job.preprocess
    raw = Path(job.paths.raw)
    files = read_json(raw / MANIFEST).get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and "path" in f for f in files):
        raise GenForgeError(f"{raw / MANIFEST}: not a collect manifest; re-run the collect stage")
    sources = job.data
    files = [f for f in files if f.get("source") in sources]
    if not files:
        raise GenForgeError(f"{raw / MANIFEST} lists no file of the sources {sources} (generators.{job.name}.data); "
                            "re-run the collect stage (`dvc repro collect`)")
    docs: dict[str, str] = {}
    for entry in files:
        path = raw / entry["path"]
        if not path.is_file():
            raise GenForgeError(f"{path}: listed in {raw / MANIFEST} but missing; re-run the collect stage")
        text = clean(path.read_bytes(), name=str(path), encoding=cfg.encoding, fmt=cfg.format,
                     stage_directions=cfg.stage_directions, headings=cfg.headings)
        if text.strip():
            docs[entry["path"]] = text
    if not docs:
        raise GenForgeError(f"the corpus is empty: the {len(files)} file(s) in {raw} hold no text after "
                            "cleaning; check collect.sources and preprocess.format")
    domain = sorted(d for d in docs if cfg.domain and fnmatchcase(d, cfg.domain))
    if cfg.domain and not domain:
        raise GenForgeError(f"preprocess.domain {cfg.domain!r} matches none of the {len(docs)} document paths in "
                            f"{raw / MANIFEST} (such as {next(iter(docs))!r}); fix the glob or set it to \"\"")
    splits = split_documents([d for d in docs if d not in domain], cfg.val_fraction, cfg.test_fraction,
                             job.seed)
    texts = {s: "\n".join(docs[d] for d in splits[s]) for s in SPLITS}
    tokenizer = make_tokenizer(cfg.tokenizer, texts["train"])
    stats = {"tokenizer": tokenizer.kind, "vocab_size": tokenizer.vocab_size}
    ids = {s: tokenizer.encode(texts[s]) for s in SPLITS}
    splits["domain"], texts["domain"] = domain, "\n".join(docs[d] for d in domain)
    ids["domain"] = tokenizer.encode(texts["domain"]) if domain else np.zeros(0, np.int64)
    for s in SPLITS:
        if ids[s].size < 2:
            raise GenForgeError(f"the {s} split ({', '.join(splits[s])}) has {ids[s].size} token(s); scoring needs "
                                "at least 2: add text or change preprocess.val_fraction / test_fraction")
    for s in (*SPLITS, "domain"):
        stats[s] = {"documents": len(splits[s]), "characters": len(texts[s]), "tokens": int(ids[s].size),
                    "unknown_tokens": int((ids[s] == 0).sum()) if tokenizer.kind == "char" else 0}
    # everything is computed: now write, each file atomically (the folder also holds DVC's .gitignore)
    processed = Path(job.paths.processed)
    for s in (*SPLITS, "domain"):
        with atomic_path(processed / f"{s}.npy") as tmp:
            np.save(tmp, ids[s].astype(tokenizer.storage_dtype))
    tokenizer.save(processed / "tokenizer.json")
    write_json(processed / "splits.json", splits)
    write_json(Path(job.paths.metrics) / "preprocess.json", stats)
    return {"documents": len(docs), "vocab_size": tokenizer.vocab_size,
            **{f"{s}_tokens": stats[s]["tokens"] for s in (*SPLITS, "domain")}}
