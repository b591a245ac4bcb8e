"""The fault report: each fault-injection test records what it injected, the notification the
user got, and whether the agent survived (notified, back to idle, answering the next request).
tests/conftest.py prints the table at the end of the run and writes tests/artifacts/faults.txt."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class FaultRow:
    fault: str
    expected: str
    injected: int = 1
    seen: str = ""  # the notification the user actually got (first line)
    survived: bool = False


ROWS: list[FaultRow] = []


class FaultRecorder:
    """``with faults("what", "expected notification", injected=n) as row:`` around one injection
    and the checks that the agent survived it; the row is marked survived only if they all pass."""

    @contextmanager
    def __call__(self, fault: str, expected: str, injected: int = 1) -> Iterator[FaultRow]:
        row = FaultRow(fault, expected, injected)
        ROWS.append(row)
        yield row
        row.survived = True


def report_lines(rows: list[FaultRow]) -> list[str]:
    fw = max(len(r.fault) for r in rows)
    ew = max(len(r.expected) for r in rows)
    head = (
        f"{'fault':<{fw}}  {'expected notification':<{ew}}  {'times':>5}  survived  notification the user got"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        seen = r.seen or "(none)"
        seen = seen if len(seen) <= 120 else seen[:119] + "…"
        ok = "yes" if r.survived else "NO"
        lines.append(f"{r.fault:<{fw}}  {r.expected:<{ew}}  {r.injected:>5}  {ok:<8}  {seen}")
    injected = sum(r.injected for r in rows)
    survived = sum(r.injected for r in rows if r.survived)
    lines.append("-" * len(head))
    lines.append(f"faults injected {injected} / survived {survived}  ({len(rows)} rows)")
    return lines
