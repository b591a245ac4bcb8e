"""JupyterLab on 127.0.0.1 (a free port, temporary root and runtime dirs) and headless Debian
Chromium driven by Playwright. The kernel is the standard ``python3`` (ipykernel) of this
environment, importing ipyagent from this checkout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipyagent.testing.lab import CHROMIUM, JupyterLab, jupyter_lab, launch_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Chromium ({CHROMIUM}): apt-get install chromium, or set IPYAGENT_CHROMIUM"
        )


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    need_chromium()
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    with jupyter_lab(root, base) as server:
        yield server


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh headless Chromium page. Playwright's sync API runs an event loop on this thread
    while it is open, so it is started and stopped per test (the async tests need the thread)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        try:
            yield pg
        finally:
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failed.png"), full_page=True)
            context.close()
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
