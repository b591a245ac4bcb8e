"""The shipped browser kit finds Chromium from the environment, not from a fixed path."""

from __future__ import annotations

from pathlib import Path

from ipyagent.testing.lab import chromium_path


def test_the_browser_is_the_one_the_environment_names(tmp_path: Path) -> None:
    assert chromium_path({"IPYAGENT_CHROMIUM": "/opt/browsers/chrome"}) == Path("/opt/browsers/chrome")


def test_without_a_name_the_browser_is_chromium_on_the_path(tmp_path: Path) -> None:
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    assert chromium_path({"PATH": str(tmp_path)}) == browser
    # none on the PATH: the bare name, which does not exist, so browser tests skip and say why
    assert not chromium_path({"PATH": str(tmp_path / "empty")}).exists()
