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
_LEAD = " " * 25  # continuation lines of a full entry line up under its text


def qualified_task_id(path: str, task_id: str) -> str:
    """How a task id reads where several agents are on screen: ``t1`` for the main agent's
    tasks, ``helper/t1`` for those of the sub-agent ``main/helper`` (each agent counts from t1)."""
    _, _, below = path.partition("/")
    return f"{below}/{task_id}" if below else task_id


def is_empty_answer(entry: Entry) -> bool:
    """An assistant entry with nothing to read: a turn that was only tool calls."""
    return entry.kind == "assistant" and not entry.text.strip() and entry.status in (None, "complete")


def notes_of(entry: Entry) -> list[str]:
    """What the backend noted about an answer (``usage["notes"]``: how a tool was chosen, a
    repetition stopped), shown under it as an ⓘ line."""
    notes = (entry.usage or {}).get("notes")
    return [str(n) for n in notes] if isinstance(notes, list | tuple) else []


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


def full_text(entry: Entry) -> str:
    """The whole text of an entry, its lines after the first indented under it (control
    characters other than newlines shown escaped)."""
    rows = [
        "".join(c if c.isprintable() else repr(c)[1:-1] for c in row.expandtabs(4)).rstrip()
        for row in entry.text.strip().splitlines()
    ]
    return ("\n" + _LEAD).join(rows)


def format_entries(entries: Iterable[Entry], *, start: float | None = None, system: bool = False) -> str:
    """Lines of ``+seconds  kind  what``; times are relative to ``start`` (default: the first entry).
    With ``system`` the system message is included, in full; an assistant entry with no text (a
    turn that only called tools) is left out: its calls follow it."""
    lines = []
    for entry in entries:
        if start is None:
            start = entry.time
        if (entry.kind == "system" and not system) or is_empty_answer(entry):
            continue
        what = full_text(entry) if entry.kind == "system" else describe(entry)
        lines.append(f"{entry.time - start:+8.2f}s  {entry.kind:<12} {what}")
    return "\n".join(lines)


def ledger_report(ledger: Ledger, path: str, file: Path | None, *, system: bool = False) -> str:
    """An agent's ledger for ``%ledger --text``: a heading (its path, size and file), then
    :func:`format_entries`."""
    where = f" ({file})" if file else ""
    return f"ledger of {path}: {len(ledger)} entries{where}\n{format_entries(ledger, system=system)}"
