"""The notifications feed: tool results, errors, timers and sub-agents' reports as they arrive."""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import EntryAdded, Update
from ..clock import format_wall
from ..errors import one_line
from ..ledger import Entry
from ..ledger.text import qualified_task_id
from .base import CSS, AgentWidget, esm
from .wire import clip

LIMIT = 100  # notifications kept in the feed
_ERRORS = {"tool_error", "tool_timeout", "tool_rejected", "model_error", "tool_cancelled"}


def notice(entry: Entry, agent: str) -> dict[str, Any]:
    source = entry.source or "notification"
    failed = source in _ERRORS or (source == "subagent_report" and "did not finish" in entry.text)
    level = "error" if failed else "ok" if source in ("tool_result", "subagent_report") else "info"
    item: dict[str, Any] = {
        "i": entry.index,
        "agent": agent,
        "source": source,
        "text": clip(entry.text, 1000)[0],
        "t": entry.time,
        "level": level,
    }
    if entry.name is not None:
        item["name"] = entry.name
    if entry.task_id is not None:  # helper/t1: several agents' tasks share this feed
        item["task_id"] = qualified_task_id(agent, entry.task_id)
    return item


class NotificationsFeed(AgentWidget):
    """``notifications(agent)``: newest last; includes sub-agents' own notifications."""

    _esm = esm("notifications.js")
    _css = CSS
    items = t.List(t.Dict()).tag(sync=True)
    with_children = True

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        seed = [notice(e, agent.path) for e in agent.ledger if e.kind == "notification"][-LIMIT:]
        super().__init__(agent, items=seed, **kwargs)
        self._items = list(seed)
        self._dirty = False

    def collect(self, update: Update) -> bool:
        if not (isinstance(update, EntryAdded) and update.entry.kind == "notification"):
            return False
        if update.agent is not self.agent and update.entry.index < update.agent.ledger.fork_point:
            return False
        self._items = [*self._items, notice(update.entry, update.agent.path)][-LIMIT:]
        self._dirty = True
        return True

    def flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self.items = self._items

    def text(self) -> str:
        if not self._items:
            return f"notifications of {self.agent.path}: none yet"
        lines = [f"notifications of {self.agent.path}:"]
        for item in self._items[-20:]:
            who = " ".join(x for x in (item.get("task_id"), item.get("name")) if x)
            head = one_line(f"[{item['source']} {who}]", 80)
            lines.append(f"  {format_wall(item['t'])[11:19]} {head} {one_line(item['text'], 200)}")
        return "\n".join(lines)
