"""The typed contract between the Python widgets and their ES modules.

Messages from the browser are checked by :func:`parse_client` (a bad one becomes an ``error``
message back to the view, never an exception in the kernel). The same shapes are written as
TypeScript types in ``wire.d.ts``, which the ES modules reference in JSDoc.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired, TypedDict

from ..dispatch.tasks import BackgroundTask
from ..ledger import Entry

TEXT_LIMIT = 4000  # characters of an entry's text sent to the browser; the rest is counted


# --- what the kernel sends ------------------------------------------------------------------------


class Row(TypedDict):
    """One ledger entry as the ledger view shows it."""

    i: int  # index in the ledger
    kind: str
    text: str
    more: int  # characters of ``text`` not sent
    t: float  # wall-clock seconds
    name: NotRequired[str]
    status: NotRequired[str]
    source: NotRequired[str]
    task_id: NotRequired[str]
    call_id: NotRequired[str]
    args: NotRequired[str]  # the arguments as pretty JSON
    gen: NotRequired[int]


class CallState(TypedDict):
    """The life of the task a tool call started."""

    call_id: str
    task_id: str
    status: str  # running, done, failed, timeout, cancelled
    start: float  # wall-clock seconds
    duration: float | None  # seconds, once it ended
    result: str | None


class Live(TypedDict):
    """The answer being generated right now, as far as it reached the user."""

    gen: int
    text: str


class ResetMsg(TypedDict):
    type: Literal["reset"]
    path: str
    total: int
    agents: list[str]


class RowsMsg(TypedDict):
    type: Literal["rows"]
    rows: list[Row]
    calls: list[CallState]


class BatchMsg(TypedDict):
    type: Literal["batch"]
    rows: list[Row]
    calls: list[CallState]
    live: Live | None
    state: str
    now: float  # the agent clock's wall time when sent
    agents: NotRequired[list[str]]


class ErrorMsg(TypedDict):
    type: Literal["error"]
    text: str


# --- what the browser sends -----------------------------------------------------------------------


class HelloMsg(TypedDict):
    """A view appeared (every widget's views send it)."""

    type: Literal["hello"]


class ByeMsg(TypedDict):
    """A view went away (its output was cleared or the cell re-run)."""

    type: Literal["bye"]


class SyncMsg(TypedDict):
    type: Literal["sync"]


class FollowMsg(TypedDict):
    type: Literal["follow"]
    path: str


class SendMsg(TypedDict):
    type: Literal["send"]
    text: str


class InterruptMsg(TypedDict):
    type: Literal["interrupt"]


class CancelMsg(TypedDict):
    type: Literal["cancel"]
    path: str


ClientMsg = HelloMsg | ByeMsg | SyncMsg | FollowMsg | SendMsg | InterruptMsg | CancelMsg

_FIELDS: dict[str, dict[str, type]] = {
    "hello": {},
    "bye": {},
    "sync": {},
    "follow": {"path": str},
    "send": {"text": str},
    "interrupt": {},
    "cancel": {"path": str},
}


class WireError(ValueError):
    """Raised when a message from the browser does not follow the contract."""


def parse_client(msg: Any, allowed: frozenset[str]) -> ClientMsg:
    """Check a browser message against the contract and the types this widget accepts."""
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise WireError(f"expected an object with a 'type', got {str(msg)[:60]!r}")
    kind = msg["type"]
    if kind not in allowed:
        raise WireError(f"this widget does not accept {kind!r} messages (it takes {sorted(allowed)})")
    for field, typ in _FIELDS[kind].items():
        if not isinstance(msg.get(field), typ):
            raise WireError(f"a {kind!r} message needs a {typ.__name__} {field!r}")
    return msg  # type: ignore[return-value]


# --- building rows --------------------------------------------------------------------------------


def clip(text: str, limit: int = TEXT_LIMIT) -> tuple[str, int]:
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def row(entry: Entry) -> Row:
    text, more = clip(entry.text)
    r: Row = {"i": entry.index, "kind": entry.kind, "text": text, "more": more, "t": entry.time}
    for key, value in (
        ("name", entry.name),
        ("status", entry.status),
        ("source", entry.source),
        ("task_id", entry.task_id),
        ("call_id", entry.call_id),
    ):
        if value is not None:
            r[key] = value  # type: ignore[literal-required]
    if entry.generation is not None:
        r["gen"] = entry.generation
    if entry.arguments is not None:
        r["args"] = clip(json.dumps(entry.arguments, indent=1, ensure_ascii=False, default=repr))[0]
    return r


def call_state(task: BackgroundTask, now: float, wall: float) -> CallState | None:
    """``now``/``wall``: the agent clock's monotonic and wall time, to place the task in wall time."""
    if task.call_id is None:
        return None
    duration = None if task.finished is None else task.finished - task.started
    return {
        "call_id": task.call_id,
        "task_id": task.task_id,
        "status": task.status,
        "start": wall - (now - task.started),
        "duration": duration,
        "result": None if task.result is None else clip(task.result)[0],
    }
