"""Atomic file and folder writes: outputs appear whole or not at all, and a failure keeps the previous ones."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path) -> str:
    """Hex sha256 digest of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def md5_file(path: str | Path) -> str:
    """Hex md5 of a file's bytes: the digest DVC 3 records for a file output in dvc.lock."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on a clean exit, rename it onto ``target``.

    A folder target is replaced whole (the old one is moved aside first and deleted after the swap). If the body
    raises, the temporary path is removed and ``target`` is left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    if is_dir:  # mkdtemp makes the folder private (0700); the output gets the mode any new folder gets
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
    work = tmp if is_dir else tmp / target.name
    try:
        yield work
        if is_dir:
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}"
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old)
        else:
            os.replace(work, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by an earlier stage; a missing file names the stage to run."""
    from genforge import GenForgeError

    path = Path(path)
    if not path.exists():
        raise GenForgeError(f"{path}: not found; run the stage that writes it first (`dvc repro`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GenForgeError(f"{path}: not valid JSON ({e}); re-run the stage that writes it") from None
