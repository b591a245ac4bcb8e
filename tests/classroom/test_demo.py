"""The demo classroom as its administrator and a student meet it: ``python -m ipyagent classroom``
prints where to log in; a student logs in through the hub's login form with the shared password
(headless Chromium), opens a notebook on the ipyagent kernel from JupyterLab's launcher, and
``%agent`` answers from the shared model server; Ctrl-C stops it all and removes the accounts.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from ipyagent.classroom import missing_programs
from ipyagent.kernel.kernelspec import DISPLAY_NAME
from ipyagent.testing.lab import CHROMIUM, launch_chromium

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


class Demo:
    """``python -m ipyagent classroom`` as a child process; what it has printed so far."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ipyagent", "classroom", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo did not print {text!r}:\n{self.output}")
            time.sleep(0.5)  # polling a child's output, bounded by the deadline
        return self.output

    def stop(self, timeout: float = 120) -> int:
        """Ctrl-C, as the administrator stops it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            self._reader.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_a_student_logs_in_to_the_demo_and_the_agent_answers() -> None:
    from playwright.sync_api import expect, sync_playwright

    reason = missing_programs() or (None if CHROMIUM.exists() else f"needs Chromium at {CHROMIUM}")
    if reason:
        pytest.skip(reason)
    prefix = f"ipd{uuid.uuid4().hex[:5]}s"
    password = secrets.token_urlsafe(9)
    users = [f"{prefix}{i}" for i in (1, 2, 3)]
    started = time.monotonic()
    demo = Demo("--users", "3", "--prefix", prefix, "--password", password)
    descendants: set[int] = set()
    try:
        printed = demo.wait_for("Press Ctrl-C", timeout=600)
        ready = time.monotonic() - started
        login = re.search(r"Log in at\s+(\S+)", printed)
        assert login, printed
        assert f"password      {password}" in printed
        assert ", ".join(users) in printed
        assert all(_account_exists(u) for u in users)
        descendants = {p.pid for p in psutil.Process(demo.process.pid).children(recursive=True)}

        student = users[1]
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(120_000)
            try:
                page.goto(login.group(1))
                page.fill("#username_input", student)
                page.fill("#password_input", "not the password")
                page.click("#login_submit")
                expect(page.locator("p.login_error")).to_contain_text("Invalid username or password")
                page.fill("#username_input", student)
                page.fill("#password_input", password)
                page.click("#login_submit")
                page.wait_for_url(f"**/user/{student}/lab**")
                # The launcher's notebook card for the ipyagent kernel.
                page.locator(f".jp-LauncherCard[title='{DISPLAY_NAME}']").first.click()
                page.get_by_text(f"{DISPLAY_NAME} | Idle").wait_for()
                cell = page.locator(".jp-Notebook .jp-CodeCell").first
                cell.locator(".jp-InputArea-editor").click()
                page.keyboard.type("%agent Say hello to the class in one short sentence.")
                page.keyboard.press("Shift+Enter")
                output = cell.locator(".jp-OutputArea")
                expect(output).to_contain_text("main: idle", timeout=300_000)
                page.screenshot(path=str(ARTIFACTS / "classroom-demo-student.png"))
                # The course decides about news and updates, not each student.
                expect(page.get_by_text("official Jupyter news")).to_have_count(0)
                text = output.inner_text()
                answer = text.rsplit("main: idle", 1)[0].strip()
                assert answer and "the model failed" not in text, text
                # The file the student made is theirs, in their own home.
                home = Path(pwd.getpwnam(student).pw_dir)
                notebook = next(home.glob("*.ipynb"))
                assert notebook.stat().st_uid == pwd.getpwnam(student).pw_uid
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "classroom-demo-failed.png"))
                raise
            finally:
                browser.close()
        answered = time.monotonic() - started - ready
        print(f"demo ready in {ready:.1f} s; the student's answer {answered:.1f} s later")
    finally:
        code = demo.stop()
    assert code == 0, demo.output
    assert "the accounts are removed" in demo.output
    assert not [u for u in users if _account_exists(u)]
    assert not [u for u in users if Path("/home", u).exists()]
    left = [pid for pid in descendants if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not left, [psutil.Process(pid).cmdline() for pid in left]
