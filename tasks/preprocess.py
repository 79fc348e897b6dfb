"""preprocess: clean the raw documents, split them by document, tokenize, write token arrays and stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.config import Params
from genforge.data import split_documents
from genforge.files import atomic_path, read_json, write_json
from genforge.sources import MANIFEST
from genforge.text import clean
from genforge.tokenizers import make_tokenizer

SPLITS = ("train", "val", "test")


def preprocess(params: Params) -> dict:
    """Write ``paths.processed/{train,val,test}.npy`` (compact unsigned token ids), ``tokenizer.json`` and
    ``splits.json`` (documents per split), and ``paths.metrics/preprocess.json`` (characters, tokens and documents
    per split, vocabulary size, unknown tokens)."""
    cfg = params.preprocess
    raw = Path(params.paths.raw)
    manifest = read_json(raw / MANIFEST)
    docs: dict[str, str] = {}
    for entry in manifest["files"]:
        text = clean((raw / entry["path"]).read_bytes(), name=str(raw / entry["path"]), encoding=cfg.encoding,
                     fmt=cfg.format, stage_directions=cfg.stage_directions, headings=cfg.headings)
        if text.strip():
            docs[entry["path"]] = text
    if not docs:
        raise GenForgeError(f"the corpus is empty: the {len(manifest['files'])} file(s) in {raw} hold no text after "
                            "cleaning; check collect.sources and preprocess.format")
    splits = split_documents(list(docs), cfg.val_fraction, cfg.test_fraction, params.seed)
    texts = {s: "\n".join(docs[d] for d in splits[s]) for s in SPLITS}
    tokenizer = make_tokenizer(cfg.tokenizer, texts["train"])
    stats = {"tokenizer": tokenizer.kind, "vocab_size": tokenizer.vocab_size}
    with atomic_path(params.paths.processed, is_dir=True) as tmp:
        for s in SPLITS:
            ids = tokenizer.encode(texts[s])
            np.save(tmp / f"{s}.npy", ids.astype(tokenizer.storage_dtype))
            stats[s] = {"documents": len(splits[s]), "characters": len(texts[s]), "tokens": int(ids.size),
                        "unknown_tokens": int((ids == 0).sum()) if tokenizer.kind == "char" else 0}
        tokenizer.save(tmp / "tokenizer.json")
        write_json(tmp / "splits.json", splits)
    write_json(Path(params.paths.metrics) / "preprocess.json", stats)
    return {"documents": len(docs), "vocab_size": tokenizer.vocab_size,
            **{f"{s}_tokens": stats[s]["tokens"] for s in SPLITS}}


def main() -> int:
    from tasks import run_stage

    return run_stage("preprocess", preprocess)


if __name__ == "__main__":
    raise SystemExit(main())
