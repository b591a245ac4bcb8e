"""In JupyterLab in a real Chromium: an %agent cell's output keeps streaming while the next cell
blocks the kernel, and the stop button interrupts the agent without a KeyboardInterrupt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ipyagent.testing.lab import JupyterLab, launch_chromium
from support.labkit import ARTIFACTS, LAB_TEST, scripted_lab

pytestmark = LAB_TEST


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[JupyterLab]:
    """JupyterLab on 127.0.0.1 with the ipyagent kernel and a scripted model; stopped afterwards."""
    words = " ".join(f"word{i}" for i in range(40))
    long = " ".join(f"w{i}" for i in range(400))
    code = {"name": "run_python", "arguments": {"code": "total = sum(range(10))\ntotal"}}
    turns = [
        {"delay": 2.0, "text": words},
        {"delay": 60, "text": long},
        {"delay": 0.2, "text": "Let me add those up.", "tool_calls": [code]},
        {"delay": 0.2, "text": "The total is 45."},
    ]
    with scripted_lab(tmp_path, turns) as server:
        yield server


def test_live_view_streams_while_a_cell_blocks_and_the_stop_button_interrupts(lab: JupyterLab) -> None:
    from playwright.sync_api import expect, sync_playwright

    nb = new_notebook(
        cells=[
            new_code_cell("%agent Count to forty"),
            new_code_cell("import time\ntime.sleep(10)\n'slept'"),
            new_code_cell("%agent Now talk for a minute"),
            new_code_cell("%agent Add the numbers below ten"),
            new_code_cell("%approve"),
        ],
        metadata={
            "kernelspec": {"name": "ipyagent", "display_name": "Python 3 (ipyagent)", "language": "python"}
        },
    )
    nbformat.write(nb, lab.root / "live.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(lab.notebook_url("live.ipynb"))
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            expect(cells).to_have_count(5, timeout=60_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
                1, timeout=60_000
            )
            # The kernel connected (the indicator can say idle before it has; cells run before
            # then are dropped by JupyterLab, and stay "[ ]").
            page.get_by_text("Python 3 (ipyagent) | Idle").wait_for(timeout=60_000)
            first, sleeper, third, fourth, fifth = (cells.nth(i) for i in range(5))
            first.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")  # runs the agent cell, selects the sleeping one
            page.keyboard.press("Shift+Enter")  # the sleeping cell: blocks the kernel for 10 s
            expect(sleeper.locator(".jp-InputPrompt")).to_contain_text("[*]", timeout=20_000)
            # While the kernel's main thread sleeps, the agent's answer streams into cell 1.
            expect(first.locator(".jp-OutputArea")).to_contain_text("word39", timeout=20_000)
            expect(sleeper.locator(".jp-InputPrompt")).to_contain_text("[*]")
            page.screenshot(path=str(ARTIFACTS / "kernel-live-view-while-blocked.png"))
            expect(first.locator(".jp-OutputArea")).to_contain_text("main: idle", timeout=20_000)
            expect(sleeper.locator(".jp-OutputArea")).to_contain_text("'slept'", timeout=20_000)

            # The stop button interrupts the agent, not the kernel.
            third.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Control+Enter")
            expect(third.locator(".jp-OutputArea")).to_contain_text("w5", timeout=20_000)
            page.locator("jp-button[data-command='notebook:interrupt-kernel']").click()
            expect(third.locator(".jp-OutputArea")).to_contain_text("■ interrupted", timeout=20_000)
            expect(third.locator(".jp-OutputArea")).to_contain_text(
                "stopped with the Jupyter interrupt button"
            )
            page.screenshot(path=str(ARTIFACTS / "kernel-stop-button.png"))
            assert "KeyboardInterrupt" not in page.locator(".jp-Notebook").inner_text()
            assert "w399" not in third.locator(".jp-OutputArea").inner_text()

            # Running code in the notebook is asked in the output area, and runs once approved.
            fourth.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Control+Enter")
            expect(fourth.locator(".jp-OutputArea")).to_contain_text("%approve r1", timeout=20_000)
            page.screenshot(path=str(ARTIFACTS / "kernel-approval-asked.png"))
            fifth.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Control+Enter")
            expect(fifth.locator(".jp-OutputArea")).to_contain_text("request r1 approved", timeout=20_000)
            expect(fourth.locator(".jp-OutputArea")).to_contain_text("The total is 45.", timeout=20_000)
            expect(fourth.locator(".jp-OutputArea")).to_contain_text("run_python: 45")
            page.screenshot(path=str(ARTIFACTS / "kernel-approval-done.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "kernel-browser-failure.png"))
            raise
        finally:
            browser.close()
