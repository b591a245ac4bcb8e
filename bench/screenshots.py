"""Take the README's notebook screenshots from a real browser.

Executes every notebook under notebooks/ with nbclient into a temporary directory (so the outputs
exist), starts JupyterLab there on 127.0.0.1 (a free port, temporary config and runtime dirs),
opens each executed notebook in headless Chromium with ``?reset``, scrolls its first picture into
view and saves a 1200x800 screenshot to docs/screenshots/NN-name.png (palette PNG, kept small).

    PYTHONPATH=src python bench/screenshots.py            # all notebooks
    PYTHONPATH=src python bench/screenshots.py 02 06      # only these
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def execute(path: Path, dest: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(dest)}}).execute()
    nbformat.write(nb, dest / path.name)


def start_lab(root: Path, base: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port, token = free_port(), secrets.token_hex(16)
    log = (base / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--ServerApp.shutdown_no_activity_timeout=600", "--LabApp.extension_manager=readonly",
            "--allow-root",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {(base / 'lab.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5).close()
            return proc, f"{url}/lab/tree/{{name}}?reset&token={token}"
        except OSError:
            if time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError("JupyterLab did not start within 90 s") from None
            time.sleep(0.3)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def small_png(png: bytes) -> bytes:
    """The screenshot as a 256-colour palette PNG: a few times smaller, same look for UI and plots."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def screenshot(page: Any, url: str, dest: Path) -> None:
    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    first = page.locator(".jp-OutputArea-output img").first
    try:
        first.wait_for(timeout=5_000)
    except Exception:  # no picture (the quickstart shows text): the top of the notebook
        first = None
    page.wait_for_timeout(1500)  # let the kernel start and the status bar settle
    no = page.get_by_role("button", name="No")
    if no.count():  # JupyterLab's "notified about news?" toast
        no.first.click()
    if page.locator("#jp-left-stack:visible").count():
        page.keyboard.press("Control+b")  # the notebook, full width
    # The title and the picture: bring the picture's bottom into view if it is below the fold.
    if first is not None:
        first.evaluate(
            "e => { const r = e.getBoundingClientRect();"
            " if (r.bottom > window.innerHeight - 20) e.scrollIntoView({block: 'end'}); }"
        )
    page.wait_for_timeout(500)
    dest.write_bytes(small_png(page.screenshot()))


def main(only: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    from ipyagent.kernel.kernelspec import install

    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    names = [n for n in names if not only or n[:2] in only]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ipyagent-shots-") as tmp:
        base = Path(tmp)
        root = base / "root"
        root.mkdir()
        shutil.copy(NOTEBOOKS / "pictures.py", root)
        install(prefix=str(base / "prefix"))  # the ipyagent kernel, for the quickstart
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
            JUPYTER_PATH=str(base / "prefix/share/jupyter"),
            JUPYTER_RUNTIME_DIR=str(base / "runtime"),
            JUPYTER_CONFIG_DIR=str(base / "config"),
            IPYTHONDIR=str(base / "ipython"),
            JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
            JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
            IPYAGENT_SESSION_DIR=str(base / "sessions"),
            MPLBACKEND="module://matplotlib_inline.backend_inline",
        )
        os.environ.update(env)
        for name in names:
            t = time.perf_counter()
            execute(NOTEBOOKS / name, root)
            print(f"executed {name} in {time.perf_counter() - t:.1f} s", flush=True)
        proc, url = start_lab(root, base, env)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                for name in names:
                    dest = OUT / (name.removesuffix(".ipynb") + ".png")
                    screenshot(page, url.format(name=name), dest)
                    print(f"{dest.relative_to(ROOT)}: {dest.stat().st_size // 1024} KB", flush=True)
                browser.close()
        finally:
            stop(proc)


if __name__ == "__main__":
    main(sys.argv[1:])
