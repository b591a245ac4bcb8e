"""In JupyterLab in a real Chromium: an %agent cell's output keeps streaming while the next cell
blocks the kernel, and the stop button interrupts the agent without a KeyboardInterrupt."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ipyagent.kernel.kernelspec import install

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "ipyagent-test"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium at /usr/bin/chromium"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab on 127.0.0.1 with the ipyagent kernel and a scripted model; stopped afterwards."""
    for name in ("prefix", "runtime", "config", "ipython", "sessions", "work"):
        (tmp_path / name).mkdir()
    install(prefix=str(tmp_path / "prefix"))
    words = " ".join(f"word{i}" for i in range(40))
    long = " ".join(f"w{i}" for i in range(400))
    script = tmp_path / "script.json"
    code = {"name": "run_python", "arguments": {"code": "total = sum(range(10))\ntotal"}}
    script.write_text(
        json.dumps(
            [
                {"delay": 2.5, "text": words},
                {"delay": 60, "text": long},
                {"delay": 0.2, "text": "Let me add those up.", "tool_calls": [code]},
                {"delay": 0.2, "text": "The total is 45."},
            ]
        )
    )
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "JUPYTER_PATH": str(tmp_path / "prefix/share/jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "IPYAGENT_SESSION_DIR": str(tmp_path / "sessions"),
        "IPYAGENT_MODEL": f"scripted:{script}",
    }
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 - closed in the finally below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={tmp_path / 'work'}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((tmp_path / "lab.log").read_text()[-2000:]) from None
                time.sleep(0.2)  # polling a starting server; bounded by the deadline above
        yield url, tmp_path / "work"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()
        shutil.rmtree(tmp_path / "runtime", ignore_errors=True)


def test_live_view_streams_while_a_cell_blocks_and_the_stop_button_interrupts(lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, work = lab
    nb = new_notebook(
        cells=[
            new_code_cell("%agent Count to forty"),
            new_code_cell("import time\ntime.sleep(6)\n'slept'"),
            new_code_cell("%agent Now talk for a minute"),
            new_code_cell("%agent Add the numbers below ten"),
            new_code_cell("%approve"),
        ],
        metadata={
            "kernelspec": {"name": "ipyagent", "display_name": "Python 3 (ipyagent)", "language": "python"}
        },
    )
    nbformat.write(nb, work / "live.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{url}/lab/tree/live.ipynb?reset&token={TOKEN}")
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            expect(cells).to_have_count(5, timeout=60_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
                1, timeout=60_000
            )
            first, sleeper, third, fourth, fifth = (cells.nth(i) for i in range(5))
            first.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")  # runs the agent cell, selects the sleeping one
            page.keyboard.press("Shift+Enter")  # the sleeping cell: blocks the kernel for 6 s
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
        finally:
            browser.close()
