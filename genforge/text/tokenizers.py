"""Tokenizers: ``byte`` (UTF-8 bytes, vocabulary 256) and ``char`` (the training split's characters plus <unk>)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.files import atomic_path

UNK = "\ufffd"  # how the <unk> token (id 0 of a char tokenizer) is written when decoded


class Tokenizer:
    """Maps text to token ids (1-D ``int32`` numpy arrays) and back.

    Attributes:
        kind: ``"byte"`` or ``"char"``.
        vocab_size: number of token ids; every id is in ``[0, vocab_size)``.
        unit: what one token is, for metric names: ``"byte"`` or ``"character"``.
    """

    kind: str
    vocab_size: int
    unit: str
    never_generate: tuple[int, ...] = ()  # ids a sampler must not emit (the <unk> token)

    def encode(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def encode_prompt(self, text: str) -> np.ndarray:
        """Encode a prompt; unlike :meth:`encode`, a character outside the vocabulary raises GenForgeError."""
        return self.encode(text)

    def decode(self, ids) -> str:
        raise NotImplementedError

    @property
    def storage_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every id (for compact token arrays on disk)."""
        return np.dtype(np.uint8) if self.vocab_size <= 256 else np.dtype(np.uint16)

    def to_dict(self) -> dict:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON, atomically."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes as tokens: vocabulary 256, no unknown token. Decoding replaces invalid sequences with U+FFFD and
    drops an incomplete character at the end (a sample cut after a number of bytes may end inside one)."""

    kind, vocab_size, unit = "byte", 256, "byte"

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)

    def decode(self, ids) -> str:
        import codecs

        # an incremental decoder holds back a trailing incomplete sequence instead of replacing it (final=False)
        return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(
            bytes(np.asarray(ids, dtype=np.uint8).tolist()), final=False)

    def to_dict(self) -> dict:
        return {"kind": "byte"}


class CharTokenizer(Tokenizer):
    """Characters as tokens. Id 0 is ``<unk>`` (characters not seen in training); ids 1.. are ``chars`` in order.

    Args:
        chars: the vocabulary, distinct characters (normally sorted, from :meth:`fit`).
    """

    kind, unit = "char", "character"
    never_generate = (0,)

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: chars must be distinct")
        self.chars = chars
        self.vocab_size = len(chars) + 1
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """The tokenizer whose vocabulary is the sorted set of characters of ``text``."""
        return cls("".join(sorted(set(text))))

    def encode(self, text: str) -> np.ndarray:
        get = self._index.get
        return np.fromiter((get(c, 0) for c in text), dtype=np.int32, count=len(text))

    def encode_prompt(self, text: str) -> np.ndarray:
        missing = sorted({c for c in text if c not in self._index})
        if missing:
            raise GenForgeError(
                f"prompt has characters outside the model's vocabulary: {''.join(missing)!r} "
                f"({', '.join(f'U+{ord(c):04X}' for c in missing)}); remove or replace them"
            )
        return self.encode(text)

    def decode(self, ids) -> str:
        chars = self.chars
        return "".join(chars[i - 1] if i > 0 else UNK for i in np.asarray(ids).tolist())

    def to_dict(self) -> dict:
        return {"kind": "char", "chars": self.chars}


def make_tokenizer(kind: str, train_text: str) -> Tokenizer:
    """A tokenizer of ``kind`` (``"byte"`` or ``"char"``); a char vocabulary is fitted on ``train_text``."""
    if kind == "byte":
        return ByteTokenizer()
    if kind == "char":
        return CharTokenizer.fit(train_text)
    raise GenForgeError(f"preprocess.tokenizer: unknown tokenizer {kind!r}; use 'char' or 'byte'")


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer written by :meth:`Tokenizer.save`.

    Raises:
        GenForgeError: the file is missing or is not a tokenizer file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["kind"] == "byte":
            return ByteTokenizer()
        if data["kind"] == "char":
            return CharTokenizer(data["chars"])
        raise KeyError(data["kind"])
    except FileNotFoundError:
        raise GenForgeError(f"{path}: tokenizer file not found; run the stage that writes it (`dvc repro`)") from None
    except (KeyError, TypeError, ValueError) as e:
        raise GenForgeError(f"{path}: not a GenForge tokenizer file ({e})") from None
