"""Shared pieces of the benchmarks: tiny Shakespeare with nanoGPT's split, and the train sections of the profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from genforge.core.config import load_params  # noqa: E402
from genforge.text.config import Train  # noqa: E402
from genforge.text.evaluation import score  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def shakespeare() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """nanoGPT's ``data/shakespeare_char/prepare.py``: the vocabulary is the sorted set of the corpus's characters
    (65), ids are positions in it, the first 90 % of the text is train and the last 10 % val.

    Returns:
        ``(train, val, chars)``: ``int32`` id arrays and the vocabulary.
    """
    if not CORPUS.is_file():
        raise SystemExit(f"{CORPUS}: not found; the benchmarks read ../shared/data/tinyshakespeare/input.txt")
    text = CORPUS.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int32)
    n = int(0.9 * len(ids))
    return ids[:n], ids[n:], chars


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s keys set; a nested section (``gpt``, ``mlp``) is merged key by key."""
    return {**base, **{k: {**base[k], **v} if isinstance(v, dict) else v for k, v in over.items()}}


def profile_train(name: str, over: dict | None = None, **update) -> Train:
    """The ``train`` section of params.yaml with ``profiles/<name>.yaml`` applied, then ``over`` (nested sections
    merged), then ``update``."""
    base = load_params(REPO / "params.yaml").generators["plays-char-lstm"].train.model_dump()
    profile = (yaml.safe_load((REPO / "profiles" / f"{name}.yaml").read_text()) or {}).get("train", {})
    return Train(**{**merge(merge(base, profile), over or {}), **update})


def val_loss(model, val: np.ndarray, seq_len: int) -> float:
    """Cross-entropy in nats per token over the whole val split, in consecutive windows of ``seq_len`` (each
    window from an empty state; :func:`genforge.text.evaluation.score`)."""
    return score(model, val, context=seq_len, unit="character")["cross_entropy"]
