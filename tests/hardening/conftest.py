"""The fault report: every fault-injection test records what it injected, the notification the
user got, and whether the agent survived (notified, back to idle, answering the next request).

At the end of the run the table is printed and written to ``tests/artifacts/faults.txt``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faultlog import ROWS, FaultRecorder, report_lines

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def faults() -> FaultRecorder:
    return FaultRecorder()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    lines = report_lines(ROWS)
    terminalreporter.write_sep("=", "fault injection")
    for line in lines:
        terminalreporter.write_line(line)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "faults.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
