"""Process-level guards of working state: a folder held by one process at a time, and a stage process that ends
when its parent dies."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import sys
import threading
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


_SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish"}


def end_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so that a stage
    whose ``dvc repro`` was killed does not live on as an orphan; and end now if the parent is already gone. Does
    nothing on other systems.

    DVC runs a stage as ``$SHELL -c <cmd>``. bash replaces itself with the command, but dash (Debian's ``/bin/sh``)
    stays as the stage's parent and outlives a killed ``dvc repro`` (seen in CI, whose ``SHELL`` is ``/bin/sh``). So
    where the parent is such a ``<shell> -c`` wrapper, a daemon thread also waits on the first ancestor above the
    wrappers (a pidfd, ``pidfd_open(2)``) and kills this process when that ancestor ends.

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
    watched = _above_shell_wrappers(parent)
    if watched != parent:
        threading.Thread(target=_end_when_gone, args=(watched,), name="end-with-parent", daemon=True).start()


def _above_shell_wrappers(pid: int) -> int:
    """``pid``, or, while it is a ``<shell> -c <cmd>`` process (read from ``/proc``), its parent: the first process
    above the shell wrappers. An interactive shell (no ``-c``) counts as the process itself."""
    while pid > 1:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # gone, or not readable: watch what we have
            return pid
        if os.path.basename(argv[0].decode(errors="replace")).lstrip("-") not in _SHELLS or b"-c" not in argv[1:]:
            return pid
        pid = ppid
    return pid


def _end_when_gone(pid: int) -> None:
    """Block until process ``pid`` ends (its pidfd turns readable), then SIGKILL this process."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGKILL)
        return
    select.select([fd], [], [])
    os.kill(os.getpid(), signal.SIGKILL)
