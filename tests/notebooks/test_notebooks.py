"""Every notebook under notebooks/ runs headless from top to bottom; key outputs are checked."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return nb


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_the_core_notebook_shows_async_beating_turn_based() -> None:
    nb = run("00-the-core.ipynb")
    text = stdout_of(nb)
    assert "asynchronous:   2.5 s" in text
    assert "turn-based:    63.0 s" in text
    assert "notification [tool_result t2 get_weather] Paris: sunny, 21 C" in text
