"""JupyterLab and headless Chromium for browser tests and the screenshot script.

``jupyter_lab`` starts a server on 127.0.0.1 (a free port, a random token, its own runtime,
config, IPython and settings directories under a base directory you give) and stops it with its
kernels; ``launch_chromium`` opens Chromium through Playwright with the flags every run uses. The
browser is ``$IPYAGENT_CHROMIUM`` if set, else ``chromium`` on the PATH (Debian's package). The
server imports ipyagent from where this process imports it, first.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import processes


def chromium_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The Chromium to drive: ``$IPYAGENT_CHROMIUM``, else ``chromium`` on the PATH. The path
    may not exist; callers skip with its name when it does not."""
    given = environ.get("IPYAGENT_CHROMIUM")
    if given:
        return Path(given)
    return Path(shutil.which("chromium", path=environ.get("PATH")) or "chromium")


CHROMIUM = chromium_path()
# Headless Chromium that never reaches out to the network on its own.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
# A microphone that needs no permission prompt, and audio that plays without a click. Add
# ``--use-file-for-fake-audio-capture=FILE.wav`` to make the microphone say something.
FAKE_MIC_FLAGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)
# The folder this process imports ipyagent from (a checkout's src/, or site-packages).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class JupyterLab:
    """A running server: its address, token and the directory notebooks are opened from."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        """Where the browser opens notebook ``name`` (relative to ``root``) with a fresh layout."""
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def write_notebook(self, name: str, cells: Sequence[str], kernel: str = "python3") -> str:
        """Write a notebook of code ``cells`` for ``kernel`` into ``root``; the URL that opens it."""
        import importlib

        nbformat: Any = importlib.import_module("nbformat")  # it ships no type hints
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        nbformat.write(nb, self.root / name)
        return self.notebook_url(name)

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}?token={self.token}", timeout=5) as reply:
            return json.loads(reply.read())


@contextmanager
def jupyter_lab(
    root: Path, base: Path, env: Mapping[str, str] | None = None, *, timeout: float = 90
) -> Iterator[JupyterLab]:
    """JupyterLab serving ``root``, with its state under ``base``; ``env`` adds variables for the
    server and its kernels. Raises RuntimeError with the end of the server's log if it does not
    come up within ``timeout`` seconds."""
    port, token = free_port(), secrets.token_hex(16)
    environ = dict(os.environ)
    environ.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT), environ.get("PYTHONPATH")])),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        IPYTHONDIR=str(base / "ipython"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
    )
    environ.update(env or {})
    base.mkdir(parents=True, exist_ok=True)
    # No "fetch Jupyter news?" toast over the notebook (and no request to the news site).
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    log = base / "lab.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
                # A server a crashed test leaves behind goes away by itself.
                "--ServerApp.shutdown_no_activity_timeout=900",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    lab = JupyterLab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {log.read_text()[-2000:]}")
            try:
                lab.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not start within {timeout:.0f} s: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)  # polling a server that is starting, bounded by the deadline
        yield lab
    finally:
        processes.stop(process, 15, group=True)  # the server and its kernels: it leads its group


def launch_chromium(playwright: Any, extra_flags: Sequence[str] = ()) -> Any:
    """Headless Debian Chromium from a started Playwright (``sync_playwright()``'s value)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_FLAGS, *extra_flags]
    )
