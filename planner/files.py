"""Output files written whole or not at all.

Every file the planner writes goes to a temporary file in the same folder, is flushed and
fsynced, gets the mode a plain ``open`` would give it (``0666`` less the umask, so
usually ``0644``), and is then renamed into place; the folder is fsynced after the rename.
A process killed at any moment therefore leaves either the old file or the new one, never
a part of one; at most a hidden temporary file ``.<name>.<pid>.<random>.tmp`` remains, and
the next write into that folder removes those of processes that are no longer running.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path

from planner.errors import PlannerError

_TMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp(\.\w+)?$")
_umask_lock = threading.Lock()


class OutputError(PlannerError):
    """An output folder or file cannot be written."""


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new output file: ``0666`` less the umask (``0644`` under the usual ``022``)."""
    return 0o666 & ~current_umask()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> int:
    """Remove temporary files left in ``folder`` by planner processes that were killed.

    Returns
    -------
    int
        How many were removed.
    """
    removed = 0
    with contextlib.suppress(OSError):
        for p in Path(folder).iterdir():
            m = _TMP.match(p.name)
            if m and not _pid_alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed += 1
    return removed


def temporary_path(path: str | Path, suffix: str = "", mode: int | None = None) -> Path:
    """Create an empty temporary file beside ``path`` (mode as :func:`file_mode`) and return it.

    ``suffix`` is added after ``.tmp`` for programs that go by the extension (``.png``);
    ``mode``, when given, replaces the usual mode (``0o600`` for a secret).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(p.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp" + suffix, dir=p.parent
    )
    try:
        os.fchmod(fd, file_mode() if mode is None else mode)
    finally:
        os.close(fd)
    return Path(tmp)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(tmp: str | Path, path: str | Path) -> None:
    """Give a finished temporary file its mode, fsync it and rename it to ``path``.

    For files another program wrote (a GraphML graph, a Chromium screenshot).
    """
    tmp, p = Path(tmp), Path(path)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fchmod(fd, file_mode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    _fsync_folder(p.parent)


def write_atomic(path: str | Path, text: str | bytes, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through an fsynced temporary file renamed into place.

    Parameters
    ----------
    path
        The file to write; its folder is created when missing.
    text
        Content (``str`` is written as UTF-8).
    mode
        File mode; default ``0666`` less the umask.  A secret gets ``0o600`` here, so it
        is never readable by others, not even for a moment.
    """
    p = Path(path)
    tmp = temporary_path(p, mode=mode)
    try:
        with open(tmp, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        _fsync_folder(p.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Make sure ``folder`` can be written (created if needed) before any work is done.

    Nothing is created: the nearest existing ancestor must be a writable folder.

    Raises
    ------
    OutputError
        When a part of the path is a file, or the folder cannot be written.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise OutputError(f"{what} {folder}: {probe} is a broken link")
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"{what} {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {folder}: {probe} is not writable")
    return folder
