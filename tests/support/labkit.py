"""Helpers for the browser tests: run a notebook in JupyterLab, wait, take screenshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ipyagent.kernel.kernelspec import install
from ipyagent.testing.lab import CHROMIUM, JupyterLab, jupyter_lab

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# The marks of a test that drives JupyterLab in Chromium.
LAB_TEST = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian Chromium at {CHROMIUM}"),
]


@contextmanager
def scripted_lab(tmp_path: Path, turns: list[dict[str, Any]]) -> Iterator[JupyterLab]:
    """JupyterLab on 127.0.0.1 with the ipyagent kernel (and its JupyterLab extension) installed
    under ``tmp_path``, the model replaying ``turns``; stopped afterwards."""
    for name in ("prefix", "sessions", "work"):
        (tmp_path / name).mkdir()
    install(prefix=str(tmp_path / "prefix"))
    script = tmp_path / "script.json"
    script.write_text(json.dumps(turns))
    env = {
        "JUPYTER_PATH": str(tmp_path / "prefix/share/jupyter"),
        "IPYAGENT_SESSION_DIR": str(tmp_path / "sessions"),
        "IPYAGENT_MODEL": f"scripted:{script}",
    }
    with jupyter_lab(tmp_path / "work", tmp_path / "lab", env) as server:
        yield server


def open_and_run(page: Any, url: str, cells: int) -> None:
    """Open a notebook, wait for its kernel, and run its ``cells`` cells one after the other."""
    page.goto(url)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=90_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    page.locator(".jp-CodeCell .jp-InputArea-prompt").first.click()
    for _ in range(cells):
        page.keyboard.press("Shift+Enter")


def wait_cells_done(page: Any, count: int) -> None:
    """Wait until ``count`` cells have run and none is running; fail at once on a cell's error."""
    page.wait_for_function(
        """(n) => {
          const err = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
          if (document.querySelector(err)) return true;
          const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
            .map(e => e.textContent);
          return p.length >= n && p.slice(0, n).every(t => /\\[\\d+\\]/.test(t));
        }""",
        arg=count,
        timeout=90_000,
    )
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    if errors.count():
        raise AssertionError(f"a cell failed: {errors.first.inner_text()[-1500:]}")


def no_cell_running(page: Any) -> bool:
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
    return not any("*" in p for p in prompts)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
