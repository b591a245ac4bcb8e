"""The typed contract between the Python widgets and their ES modules.

Messages from the browser are checked by :func:`parse_client` (a bad one becomes an ``error``
message back to the view, never an exception in the kernel). The same shapes are written as
TypeScript types in ``wire.d.ts``, which the ES modules reference in JSDoc.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal, NotRequired, TypedDict, get_args, get_origin, get_type_hints

from ..dispatch.tasks import BackgroundTask
from ..errors import IpyagentError
from ..ledger import Entry
from ..ledger.text import notes_of

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
    finished: NotRequired[float]  # a notification: when its work ended (wall-clock seconds)
    p: NotRequired[int]  # position among the entries the view shows (its filter), when sent to it
    call: NotRequired[str]  # a tool call's status, when no live task says it (a resumed ledger)
    notes: NotRequired[str]  # an answer: what the backend noted about it (the ⓘ line)


class CallState(TypedDict):
    """The life of the task a tool call started."""

    call_id: str
    task_id: str
    status: str  # running, done, failed, timeout, cancelled
    start: float  # wall-clock seconds
    duration: float | None  # seconds, once it ended
    result: str | None
    progress: str | None  # the latest progress report of a running task
    fraction: float | None  # done / total of that report, when both are known


class Live(TypedDict):
    """The answer being generated right now, as far as it reached the user."""

    gen: int
    text: str


class ResetMsg(TypedDict):
    """A view starts over: whose ledger, how many entries it has and shows, and the rows at
    ``start`` (the newest ones, or where the view was reading); the rest come on request."""

    type: Literal["reset"]
    path: str
    total: int
    shown: int
    counts: dict[str, int]
    hidden: list[str]
    query: str
    agents: list[str]
    start: int  # the position the view shows at its top (or the first of the newest rows)
    newest: bool  # the view sticks to the newest entry (else it keeps reading at ``start``)
    rows: list[Row]
    calls: list[CallState]


class RowsMsg(TypedDict):
    """The rows a view asked for (``window``), from position ``start``."""

    type: Literal["rows"]
    start: int
    shown: int
    rows: list[Row]


class BatchMsg(TypedDict):
    """What changed: appended rows that the view shows (each with its position), counts, calls,
    the live answer and the state."""

    type: Literal["batch"]
    rows: list[Row]
    shown: int
    total: int
    counts: dict[str, int]
    calls: list[CallState]
    live: Live | None
    state: str
    now: float  # the agent clock's wall time when sent
    agents: NotRequired[list[str]]


class SearchingMsg(TypedDict):
    """A search of a long ledger is under way: ``done`` of ``total`` entries read so far."""

    type: Literal["searching"]
    query: str
    done: int
    total: int


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


class WindowMsg(TypedDict):
    """The ledger view needs the rows at positions ``start`` .. ``start + count - 1``."""

    type: Literal["window"]
    start: int
    count: int


class FilterMsg(TypedDict):
    """Show every kind but those in ``hidden`` (comma-separated), and only entries containing
    ``query`` (any case; empty: all)."""

    type: Literal["filter"]
    hidden: str
    query: str
    anchor: NotRequired[int]  # the ledger index the view was reading: it stays there


class SendMsg(TypedDict):
    type: Literal["send"]
    text: str


class InterruptMsg(TypedDict):
    type: Literal["interrupt"]


class CancelMsg(TypedDict):
    type: Literal["cancel"]
    path: str


ClientMsg = (
    HelloMsg | ByeMsg | SyncMsg | FollowMsg | WindowMsg | FilterMsg | SendMsg | InterruptMsg | CancelMsg
)

# kind -> field -> the types it may have (a bool is never taken for a number). Derived from the
# TypedDicts above and below, so the check cannot drift from the contract.
Fields = dict[str, dict[str, tuple[type, ...]]]
# A float field takes a whole number too (JSON has one kind of number).
_RUNTIME_TYPES: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float), bool: (bool,)}


def fields_of(*messages: type) -> tuple[Fields, Fields]:
    """``(required, optional)``: for each message TypedDict, its ``type`` literal mapped to the
    runtime types of its other fields (``NotRequired`` ones in ``optional``)."""
    required: Fields = {}
    optional: Fields = {}
    for message in messages:
        hints = get_type_hints(message, include_extras=True)
        (kind,) = get_args(hints.pop("type"))
        required[kind], optional[kind] = {}, {}
        for name, hint in hints.items():
            left_out = get_origin(hint) is NotRequired
            table = optional if left_out else required
            table[kind][name] = _RUNTIME_TYPES[get_args(hint)[0] if left_out else hint]
    return required, optional


# Longest strings taken from the browser: a chat message (a pasted page is fine, a flood is
# not), and anything else (agent paths, error texts).
MAX_MESSAGE = 100_000
MAX_FIELD = 1000
_LONG_FIELDS = {"text": MAX_MESSAGE}


# --- what the voice widget's browser side sends ----------------------------------------------


class MicMsg(TypedDict):
    """A frame of microphone audio; the PCM16 samples travel as the one binary buffer. ``seq``
    counts frames from 0 each time the microphone starts (late and repeated frames are dropped)."""

    type: Literal["mic"]
    rate: int
    seq: NotRequired[int]


class PlaybackMsg(TypedDict):
    """How far the speaker got through a chunk the kernel sent (samples played)."""

    type: Literal["playback"]
    chunk: int
    played: float
    done: bool


class MicStateMsg(TypedDict):
    type: Literal["mic_state"]
    on: bool


class ReadyMsg(TypedDict):
    type: Literal["ready"]


class StoppedMsg(TypedDict):
    """The speaker stopped as told; ``chunks`` were dropped from its queue."""

    type: Literal["stopped"]
    chunks: NotRequired[int]


class BrowserErrorMsg(TypedDict):
    """Something failed in the browser (no microphone, permission refused...)."""

    type: Literal["error"]
    text: str


VoiceMsg = MicMsg | PlaybackMsg | MicStateMsg | ReadyMsg | StoppedMsg | BrowserErrorMsg

_FIELDS, _CLIENT_OPTIONAL = fields_of(*get_args(ClientMsg))
_VOICE_FIELDS, _VOICE_OPTIONAL = fields_of(*get_args(VoiceMsg))
_OPTIONAL: Fields = {**_CLIENT_OPTIONAL, **_VOICE_OPTIONAL}  # fields that may be left out
VOICE_KINDS = frozenset(_VOICE_FIELDS)


class WireError(IpyagentError, ValueError):
    """Raised when a message from the browser does not follow the contract."""


_NAMES = {str: "string", int: "whole number", float: "number", bool: "true or false"}
_AGAIN = "reload the page if this repeats"


def _fits(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def _check(msg: Any, allowed: frozenset[str], table: Fields) -> Any:
    if not isinstance(msg, dict):
        raise WireError(
            f"refused a message from the browser: a {type(msg).__name__}, not an object; {_AGAIN}"
        )
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise WireError(f"refused a message from the browser: it has no 'type' string; {_AGAIN}")
    if kind not in allowed or kind not in table:
        raise WireError(
            f"refused a {kind[:40]!r} message from the browser: this widget takes "
            f"{', '.join(sorted(allowed & set(table)))}; {_AGAIN}"
        )
    fields = [(f, t, True) for f, t in table[kind].items()]
    fields += [(f, t, False) for f, t in _OPTIONAL.get(kind, {}).items()]
    for field, types, required in fields:
        if field not in msg and not required:
            continue
        value = msg.get(field)
        if not _fits(value, types):
            wanted = " or ".join(_NAMES.get(t, t.__name__) for t in types)
            got = "missing" if field not in msg else f"a {type(value).__name__}"
            raise WireError(
                f"refused a {kind!r} message from the browser: {field!r} must be a {wanted}, "
                f"not {got}; {_AGAIN}"
            )
        limit = _LONG_FIELDS.get(field, MAX_FIELD)
        if isinstance(value, str) and len(value) > limit:
            raise WireError(
                f"refused a {kind!r} message from the browser: {field!r} has {len(value):,} "
                f"characters, more than the {limit:,} allowed; send it in smaller parts"
            )
    return msg


def parse_client(msg: Any, allowed: frozenset[str]) -> ClientMsg:
    """Check a browser message against the contract and the types this widget accepts.

    Raises WireError whose text is one line saying what was wrong."""
    checked: ClientMsg = _check(msg, allowed, _FIELDS)
    return checked


def parse_voice(msg: Any) -> VoiceMsg:
    """Check a message from the voice widget's browser side; raises WireError (one line)."""
    checked: VoiceMsg = _check(msg, VOICE_KINDS, _VOICE_FIELDS)
    return checked


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
    if entry.finished is not None:
        r["finished"] = entry.finished
    if entry.arguments is not None:
        r["args"] = clip(json.dumps(entry.arguments, indent=1, ensure_ascii=False, default=repr))[0]
    notes = notes_of(entry)
    if notes:
        r["notes"] = clip("; ".join(notes))[0]
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
        "progress": task.progress.text if task.progress is not None and task.running else None,
        "fraction": task.progress.fraction if task.progress is not None and task.running else None,
    }
