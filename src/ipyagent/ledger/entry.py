"""One line of the ledger."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

EntryKind = Literal[
    "system",  # instructions for the agent
    "user",  # a user turn (source: api, cell, chat, voice, task)
    "assistant",  # what the agent said; status "complete" or "interrupted" (text = what was delivered)
    "tool_call",  # the model asked for a tool (name, arguments, call_id)
    "tool_result",  # the dispatcher's immediate answer to a call: status "started" (task_id) or "rejected"
    "notification",  # something that arrived on its own; source names its kind (tool_result, timer, ...)
    "interruption",  # marker: output was cut off here; text is the reason
    "subagent",  # link to a sub-agent: name, status "fork" or "spawn", text = its task
]
ENTRY_KINDS: frozenset[str] = frozenset(get_args(EntryKind))

# Stored bodies are checked field by field, so a damaged or hand-edited file is refused with a
# reason instead of breaking a renderer later. Times must be ones a calendar can show.
_STRINGS = ("text", "name", "call_id", "task_id", "status", "source")
_MAPPINGS = ("arguments", "usage")
_EARLIEST_TIME, _LATEST_TIME = -62135510400.0, 253402214400.0  # 0001-01-02 .. 9999-12-30 UTC


@dataclass(frozen=True, slots=True)
class Entry:
    """An immutable ledger entry. Fields that do not apply to a kind stay ``None``.

    ``index`` is the entry's position in its ledger; a forked ledger shares its parent's entries
    (the same objects), and because a fork starts where the parent was, indices agree.
    ``time`` is wall-clock seconds since the epoch, from the agent's clock, when the entry was
    recorded; for a notification, ``finished`` is when the work it reports on ended (earlier,
    when the result waited for a generation to end).
    """

    kind: EntryKind
    text: str = ""
    time: float = 0.0
    index: int = -1
    name: str | None = None
    call_id: str | None = None
    task_id: str | None = None
    arguments: Mapping[str, Any] | None = None
    status: str | None = None
    source: str | None = None
    generation: int | None = None
    usage: Mapping[str, Any] | None = None
    finished: float | None = None

    def to_json(self) -> str:
        """Compact JSON holding only the fields that are set."""
        body = {k: v for k, v in asdict(self).items() if v is not None and k != "index"}
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (from a browser's JSON): keep it, escaped
            text = json.dumps(body, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
        return text

    @classmethod
    def from_json(cls, text: str, index: int) -> Entry:
        """Inverse of :meth:`to_json`; unknown keys are ignored so old files stay readable.

        Raises ValueError (one line, saying which field is wrong) for anything that is not an
        entry :meth:`to_json` could have written.
        """
        try:
            body = json.loads(text)
        except RecursionError:
            raise ValueError("not a ledger entry: JSON nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a ledger entry: bad JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(body, dict):
            raise ValueError(f"not a ledger entry: a JSON {type(body).__name__}, not an object")
        kind = body.get("kind")
        if not isinstance(kind, str) or kind not in ENTRY_KINDS:
            raise ValueError(f"not a ledger entry: unknown kind {str(kind)[:40]!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in body.items() if k in known and k != "index"}
        _check_fields(values)
        return cls(**values, index=index)


def _check_fields(values: Mapping[str, Any]) -> None:
    for key in _STRINGS:
        if values.get(key) is not None and not isinstance(values[key], str):
            raise ValueError(f"ledger entry field {key!r} is a {type(values[key]).__name__}, not a string")
    if "text" in values and values["text"] is None:
        raise ValueError("ledger entry field 'text' is null, not a string")
    for key in _MAPPINGS:
        if values.get(key) is not None and not isinstance(values[key], dict):
            raise ValueError(f"ledger entry field {key!r} is a {type(values[key]).__name__}, not an object")
    for key in ("time", "finished"):
        time = values.get(key, 0.0)
        if time is None and key == "finished":
            continue
        if isinstance(time, bool) or not isinstance(time, int | float):
            raise ValueError(f"ledger entry field {key!r} is a {type(time).__name__}, not a number")
        if not (math.isfinite(time) and _EARLIEST_TIME <= time <= _LATEST_TIME):
            raise ValueError(f"ledger entry field {key!r} is {time!r}, not a time a calendar can show")
    generation = values.get("generation")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)):
        raise ValueError(f"ledger entry field 'generation' is a {type(generation).__name__}, not an integer")
