"""What the three renderers share: grouping entries into messages, and the wording of everything
that is not a plain user or assistant message (notifications, interruptions, sub-agent links, the
status of the present moment)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from ...clock import format_duration, format_wall
from ..entry import Entry
from .context import Context, PendingTask

TOOLS_RUN_IN_BACKGROUND = (
    "Tools run in the background: when you call one you get its task id at once, and its result "
    "arrives later as a notification. Keep talking to the user meanwhile; do not wait, and do not "
    "call a tool again while it is still running."
)


def clock_time(seconds: float) -> str:
    """``HH:MM:SS`` in UTC."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def arguments_json(entry: Entry) -> str:
    """A tool call's arguments as compact, sorted JSON, or the raw text the model produced."""
    if entry.arguments is None:
        return entry.text
    return json.dumps(entry.arguments, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass
class Turn:
    """One message's worth of entries.

    ``kind`` is ``assistant`` (text, its tool calls, their immediate results, and an interruption
    marker if it was cut off), ``user``, ``system`` or ``note`` (a notification, sub-agent link or
    stray interruption: told to the model as a tagged message).
    """

    kind: Literal["system", "user", "assistant", "note"]
    first: Entry
    text: str = ""
    calls: list[Entry] = field(default_factory=list)
    results: list[Entry] = field(default_factory=list)
    interruption: Entry | None = None
    last_index: int = -1


# Interruptions that cut nothing off (a cough the answer resumed after; speech during an answer
# that may not be cut) are the user's record, not the model's: what it said was heard in full.
UNCUT_INTERRUPTIONS = frozenset({"false", "deferred"})


def turns(entries: Sequence[Entry]) -> Iterator[Turn]:
    """Group entries into messages. Each entry belongs to exactly one turn, in order, except
    interruption markers that cut nothing off (:data:`UNCUT_INTERRUPTIONS`), which are left out."""
    current: Turn | None = None
    for entry in entries:
        kind = entry.kind
        if kind == "interruption" and entry.status in UNCUT_INTERRUPTIONS:
            continue
        attach = current is not None and current.kind == "assistant" and current.interruption is None
        if kind in ("tool_call", "tool_result", "interruption") and attach:
            assert current is not None
            if kind == "tool_call":
                current.calls.append(entry)
            elif kind == "tool_result":
                current.results.append(entry)
            else:
                current.interruption = entry
            current.last_index = entry.index
            continue
        if current is not None:
            yield current
            current = None
        if kind == "assistant":
            current = Turn("assistant", entry, entry.text, last_index=entry.index)
        elif kind == "tool_call":  # calls with no text before them
            current = Turn("assistant", entry, "", calls=[entry], last_index=entry.index)
        elif kind in ("user", "system"):
            yield Turn(kind, entry, entry.text, last_index=entry.index)
        else:
            yield Turn("note", entry, entry.text, last_index=entry.index)
    if current is not None:
        yield current


def data(text: str) -> str:
    """Text that came from outside (a tool's output, a sub-agent's answer, a server's error),
    made safe to place between delimiters: ``&``, ``<`` and ``>`` are escaped as in XML, so
    nothing inside can close its tag, open a role (``<|im_start|>``), or read as a tool call."""
    return escape(text)


def calls_by_task(entries: Sequence[Entry]) -> dict[str, str]:
    """Which call started each task (``task id -> call id``), so a notification can name it."""
    return {e.task_id: e.call_id for e in entries if e.kind == "tool_result" and e.task_id and e.call_id}


def _tag(name: str, attributes: Mapping[str, Any], body: str) -> str:
    attrs = "".join(f" {k}={quoteattr(str(v))}" for k, v in attributes.items() if v is not None)
    return f"<{name}{attrs}>{body}</{name}>"


def note_text(entry: Entry, calls: Mapping[str, str] | None = None) -> str:
    """A notification, sub-agent link or interruption as a clearly tagged message for API models.

    Tool output is data, never instructions: it is always inside a tag naming where it came from
    (its kind, the task and the call that started it, the tool), escaped so it cannot end the tag.
    ``calls`` maps task ids to the calls that started them (:func:`calls_by_task`).
    """
    when = format_wall(entry.time)
    if entry.kind == "subagent":
        return _tag(
            "subagent",
            {"name": entry.name, "how": entry.status, "task": entry.task_id, "time": when},
            f"A sub-agent was started with this task: {data(entry.text)}",
        )
    if entry.kind == "interruption":
        return interruption_text(entry)
    call = (calls or {}).get(entry.task_id or "")
    attributes = {"kind": entry.source, "task": entry.task_id, "call": call, "name": entry.name, "time": when}
    finished = finished_time(entry)
    if finished is not None:
        attributes["finished"] = format_wall(finished)
    return _tag("notification", attributes, data(entry.text))


def finished_time(entry: Entry) -> float | None:
    """When a notification's work ended, if that shows as a different second than when it was
    recorded (it waited while the agent was busy); else ``None``."""
    if entry.finished is None or int(entry.finished) == int(entry.time):
        return None
    return entry.finished


def interruption_text(entry: Entry) -> str:
    return _tag(
        "interruption",
        {"time": format_wall(entry.time)},
        f"Your previous message was cut off ({data(entry.text)}). The user received only the text above.",
    )


def tasks_text(context: Context) -> str:
    """``Tasks: ...``: each running task with how long it has run and its latest progress, then
    how old the results are that arrived since the agent last spoke."""
    tasks = "; ".join(_pending_text(p) for p in context.pending) or "no tasks running"
    text = f"Tasks: {tasks}."
    fresh = []
    for entry in reversed(context.entries):
        if entry.kind in ("assistant", "user"):
            break
        if entry.kind == "notification" and entry.task_id and entry.source != "tool_progress":
            done = entry.finished if entry.finished is not None else entry.time
            age = format_duration(max(0.0, context.now - done))
            fresh.append(f"{entry.task_id} {entry.name or ''} finished {age} ago".replace("  ", " "))
    if fresh:
        text += f" New results: {'; '.join(reversed(fresh))}."
    return text


def _pending_text(p: PendingTask) -> str:
    text = f"{p.task_id} {p.name} (running {format_duration(p.elapsed)}"
    if p.progress is not None:
        age = format_duration(p.progress_age or 0.0)
        text += f"; progress: {data(p.progress)}, {age} ago"
    return text + ")"


def status_text(context: Context) -> str:
    """The present moment: the time, the running tasks and how old the newest results are."""
    return f"Now: {format_wall(context.now)}. {tasks_text(context)}"


def tool_lines(context: Context) -> str:
    return "\n".join(
        f"- {t.name}: {t.description} Arguments (JSON schema): "
        f"{json.dumps(t.parameters, sort_keys=True, separators=(',', ':'))}"
        for t in context.tools
    )
