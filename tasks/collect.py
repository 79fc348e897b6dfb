"""collect: fetch every source in ``collect.sources`` into ``paths.raw`` with a manifest."""

from __future__ import annotations

from pathlib import Path

from genforge.core.config import ParamsBase
from genforge.core.files import atomic_path, write_json
from genforge.core.sources import MANIFEST, fetch


def collect(params: ParamsBase) -> dict:
    """Fetch and verify all sources; write ``paths.raw/<source name>/...`` and ``paths.raw/manifest.json``
    (per file: source, path, bytes, sha256). The folder is replaced whole only when every source succeeded."""
    cfg = params.collect
    with atomic_path(params.paths.raw, is_dir=True) as tmp:
        entries = []
        for source in cfg.sources:
            entries += fetch(source, tmp / source.name, root=Path.cwd(), attempts=cfg.retries,
                             timeout_s=cfg.timeout_s)
        write_json(tmp / MANIFEST, {"files": [e.to_dict() for e in entries]})
    return {"files": len(entries), "bytes": sum(e.bytes for e in entries)}


def main() -> int:
    from tasks import stage_main

    return stage_main("collect", collect)


if __name__ == "__main__":
    raise SystemExit(main())
