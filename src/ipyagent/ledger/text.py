"""The ledger as plain text, one line per entry, for terminals, nbconvert and quick looks."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import one_line
from .entry import Entry

if TYPE_CHECKING:
    from .ledger import Ledger

_WIDTH = 96


def describe(entry: Entry) -> str:
    """What an entry says, in one line (control characters shown escaped, never sent to the
    terminal as they are)."""
    text = entry.text
    match entry.kind:
        case "tool_call":
            args = (
                "" if entry.arguments is None else ", ".join(f"{k}={v!r}" for k, v in entry.arguments.items())
            )
            shown = f"{entry.name}({args or text})"
        case "tool_result":
            shown = f"{entry.name} {entry.status}" + (
                f" as {entry.task_id}" if entry.task_id else f": {text}"
            )
        case "notification":
            who = " ".join(x for x in (entry.task_id, entry.name) if x)
            shown = f"[{entry.source}{' ' + who if who else ''}] {text}"
        case "assistant" if entry.status and entry.status != "complete":
            shown = f"{text} [{entry.status}]"
        case "subagent":
            shown = f"{entry.status} {entry.name!r} ({entry.task_id}): {text}"
        case _:
            shown = text
    return one_line(shown, _WIDTH)


def format_entries(entries: Iterable[Entry], *, start: float | None = None, system: bool = False) -> str:
    """Lines of ``+seconds  kind  what``; times are relative to ``start`` (default: the first entry)."""
    lines = []
    for entry in entries:
        if start is None:
            start = entry.time
        if entry.kind == "system" and not system:
            continue
        lines.append(f"{entry.time - start:+8.2f}s  {entry.kind:<12} {describe(entry)}")
    return "\n".join(lines)


def ledger_report(ledger: Ledger, path: str, file: Path | None, *, system: bool = False) -> str:
    """An agent's ledger for ``%ledger --text``: a heading (its path, size and file), then
    :func:`format_entries`."""
    where = f" ({file})" if file else ""
    return f"ledger of {path}: {len(ledger)} entries{where}\n{format_entries(ledger, system=system)}"
