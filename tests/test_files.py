"""Atomic writes: a finished write replaces its target whole, with the usual permissions; a failed one leaves it."""

import os
import stat

import pytest

from genforge.core.files import atomic_path


def test_a_folder_written_atomically_replaces_the_old_one_and_is_not_private(tmp_path):
    target = tmp_path / "reports"
    target.mkdir()
    (target / "old.html").write_text("old")
    umask = os.umask(0o022)
    try:
        with atomic_path(target, is_dir=True) as tmp:
            (tmp / "index.html").write_text("new")
    finally:
        os.umask(umask)
    assert [p.name for p in target.iterdir()] == ["index.html"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # as `mkdir` makes it under umask 022, not mkdtemp's 0700
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]  # no temporary or old folder left


def test_a_failed_write_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("{}")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
