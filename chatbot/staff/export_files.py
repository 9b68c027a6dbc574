"""Console exports as files: private to the server's user, and deleted soon.

An export holds every conversation it covers, so its file

- is written inside Gradio's upload folder, from which the console serves downloads, so
  Gradio serves this file itself instead of keeping a copy of it in its cache;
- lies in a folder with a random name in `chatbot-exports/`, both only the server's user
  may open (0700), and only that user may read it (0600);
- is deleted `keep_seconds` after it was written (a timer), and any export older than that
  (left by a stopped server) when the console starts and at each new export.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

EXPORTS_FOLDER = "chatbot-exports"

log = logging.getLogger(__name__)


class ExportFolderError(RuntimeError):
    """The exports folder is not a private folder of this user."""


def exports_root(upload_folder: str | Path) -> Path:
    """`upload_folder`/chatbot-exports, created if needed and made private (0700). Raises
    ExportFolderError if it is a link or belongs to another user."""
    root = Path(upload_folder) / EXPORTS_FOLDER
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ExportFolderError(
            f"{root} is not a folder of this server's user (a link, or another user's): "
            "remove it, then export again"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:  # an older folder, or mkdir under a umask
        root.chmod(0o700)
    return root


def open_export(root: Path, name: str) -> tuple[Path, TextIO]:
    """A new file `name` in a new private folder under `root`, open for writing text (for CSV:
    no newline translation). Returns its path and the open file."""
    folder = Path(tempfile.mkdtemp(dir=root))  # a random name, mode 0700
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return path, os.fdopen(fd, "w", encoding="utf-8", newline="")


def remove_export(path: Path) -> None:
    """Delete an export and its folder (nothing if they are gone already)."""
    shutil.rmtree(path.parent, ignore_errors=True)


def remove_later(path: Path, seconds: float) -> None:
    """Delete the export `seconds` from now (a daemon timer: a server stopping does not wait
    for it; the next start removes what it left)."""
    timer = threading.Timer(seconds, remove_export, args=(path,))
    timer.daemon = True
    timer.start()


def remove_expired(root: Path, keep_seconds: float, now: float | None = None) -> int:
    """Delete the exports under `root` written more than `keep_seconds` ago; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for folder in root.iterdir():
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > keep_seconds:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:  # removed meanwhile
            continue
    return removed


def sweep(upload_folder: str | Path, keep_seconds: float) -> None:
    """`remove_expired` in the exports folder of `upload_folder`, if it is usable (otherwise
    a warning: the next export reports the problem)."""
    try:
        remove_expired(exports_root(upload_folder), keep_seconds)
    except (ExportFolderError, OSError) as exc:
        log.warning("old exports not checked: %s", exc)
