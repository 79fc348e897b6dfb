"""Process-level guards of working state: a folder held by one process at a time, and a stage process that ends
when its parent dies."""

from __future__ import annotations

import fcntl
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genforge import GenForgeError


@contextmanager
def exclusive(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder`` for this process: an exclusive ``flock`` on ``<folder>.lock``, which holds the holder's PID.
    The kernel releases the lock when the process ends, however it ends (SIGKILL included), so a dead holder never
    blocks the next one.

    Args:
        folder: the folder to guard (it need not exist).
        what: how the message names the folder (``"checkpoint folder"``).

    Raises:
        GenForgeError: another live process holds it; the message names its PID.
    """
    lock = Path(f"{folder}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise GenForgeError(f"{what} {folder} is in use by another process (PID {holder}): wait for it to "
                                f"finish, or stop it (kill {holder}) and run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def end_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so that a stage
    whose ``dvc repro`` was killed does not live on as an orphan; and end now if the parent is already gone. Does
    nothing on other systems.

    SIGKILL, not SIGTERM: a process started by a runner that ignores SIGTERM inherits that disposition (``SIG_IGN``
    survives ``exec``), and a SIGTERM would then leave the stage training on beside the next attempt's (seen in CI).
    Nothing is lost by the hard end: checkpoints and the MLflow run record are written atomically, and the next
    attempt resumes them.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)
