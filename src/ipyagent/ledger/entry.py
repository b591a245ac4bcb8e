"""One line of the ledger."""

from __future__ import annotations

import json
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


@dataclass(frozen=True, slots=True)
class Entry:
    """An immutable ledger entry. Fields that do not apply to a kind stay ``None``.

    ``index`` is the entry's position in its ledger; a forked ledger shares its parent's entries
    (the same objects), and because a fork starts where the parent was, indices agree.
    ``time`` is wall-clock seconds since the epoch, from the agent's clock.
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

    def to_json(self) -> str:
        """Compact JSON holding only the fields that are set."""
        body = {k: v for k, v in asdict(self).items() if v is not None and k != "index"}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, index: int) -> Entry:
        """Inverse of :meth:`to_json`; unknown keys are ignored so old files stay readable."""
        body = json.loads(text)
        if not isinstance(body, dict) or body.get("kind") not in ENTRY_KINDS:
            raise ValueError(f"not a ledger entry: {text[:80]!r}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known and k != "index"}, index=index)
