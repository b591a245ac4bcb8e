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
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "docs" / "screenshots"


def execute(path: Path, dest: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(dest)}}).execute()
    nbformat.write(nb, dest / path.name)


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
    from ipyagent.testing.lab import jupyter_lab, launch_chromium

    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    names = [n for n in names if not only or n[:2] in only]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ipyagent-shots-") as tmp:
        base = Path(tmp)
        root = base / "root"
        root.mkdir()
        shutil.copy(NOTEBOOKS / "pictures.py", root)
        install(prefix=str(base / "prefix"))  # the ipyagent kernel, for the quickstart
        env = {
            "JUPYTER_PATH": str(base / "prefix/share/jupyter"),
            "IPYAGENT_SESSION_DIR": str(base / "sessions"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
        # The notebooks run here first (nbclient), in the same isolated directories.
        src = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        os.environ.update(env, PYTHONPATH=src, JUPYTER_RUNTIME_DIR=str(base / "runtime"))
        os.environ.update(IPYTHONDIR=str(base / "ipython"), JUPYTER_CONFIG_DIR=str(base / "config"))
        for name in names:
            t = time.perf_counter()
            execute(NOTEBOOKS / name, root)
            print(f"executed {name} in {time.perf_counter() - t:.1f} s", flush=True)
        with jupyter_lab(root, base, env, timeout=90) as lab, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            for name in names:
                dest = OUT / (name.removesuffix(".ipynb") + ".png")
                screenshot(page, lab.notebook_url(name), dest)
                print(f"{dest.relative_to(ROOT)}: {dest.stat().st_size // 1024} KB", flush=True)
            browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
