"""Where a notebook's sessions are stored.

Each kernel session of a notebook writes its ledger to its own SQLite file::

    $IPYAGENT_SESSION_DIR (default: <jupyter data dir>/ipyagent/sessions)
        <notebook name>-<hash of its full path>/
            20260105-093005-12345.sqlite        one per kernel session, created on first use

The notebook's path comes from ``JPY_SESSION_NAME`` (set by Jupyter Server), else the shell's
``__session__``; a kernel started without one uses the working directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any


def sessions_root() -> Path:
    explicit = os.environ.get("IPYAGENT_SESSION_DIR")
    if explicit:
        return Path(explicit).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "ipyagent" / "sessions"


def notebook_path(user_ns: dict[str, Any] | None = None) -> str:
    """The notebook this kernel serves, as well as we can know it."""
    name = os.environ.get("JPY_SESSION_NAME") or (user_ns or {}).get("__session__")
    if isinstance(name, str) and name:
        return os.path.abspath(name)
    return os.path.join(os.getcwd(), "untitled")


def notebook_dir(user_ns: dict[str, Any] | None = None) -> Path:
    """The folder holding every session of this notebook."""
    path = notebook_path(user_ns)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:40] or "notebook"
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return sessions_root() / f"{stem}-{digest}"


def new_session_file(user_ns: dict[str, Any] | None = None) -> Path:
    folder = notebook_dir(user_ns)
    # Conversations are private: folders we create are the user's alone (an existing folder
    # keeps the permissions its owner chose).
    for missing in reversed([folder, *folder.parents]):
        if not missing.exists():
            missing.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    return folder / f"{stamp}-{os.getpid()}.sqlite"


def earlier_sessions(user_ns: dict[str, Any] | None = None, *, exclude: Path | None = None) -> list[Path]:
    """This notebook's session files, newest first (by modification time)."""
    folder = notebook_dir(user_ns)
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.sqlite") if exclude is None or p.resolve() != exclude.resolve()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)
