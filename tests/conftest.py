from __future__ import annotations

from pathlib import Path

import pytest

from support.faultlog import ROWS, FaultRecorder, report_lines

# Real kernels for the kernel, security and hardening tests.
pytest_plugins = ["support.kernels"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the fault report (tests/faultlog.py): printed at the end, written to tests/artifacts ---------


@pytest.fixture
def faults() -> FaultRecorder:
    """``with faults("what", "expected notification") as row:`` around one fault injection."""
    return FaultRecorder()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    lines = report_lines(ROWS)
    terminalreporter.write_sep("=", "fault injection")
    for line in lines:
        terminalreporter.write_line(line)
    artifacts = Path(__file__).resolve().parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "faults.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
