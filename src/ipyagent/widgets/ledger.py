"""The live ledger view: every entry of one agent's ledger, coloured by role, with tool-call status.

The browser keeps the rows and draws only those in sight (a virtualised list), so a ledger of
10,000 entries costs what a screenful does. A view asks for everything when it appears
(``sync``); after that the kernel sends only what changed, at most ~30 batches a second.
"""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import AgentStatusChanged, EntryAdded, StateChanged, TaskChanged, TextDelivered, Update
from ..fsm import State
from ..ledger.text import format_entries
from .base import CSS, AgentWidget, esm, find
from .wire import BatchMsg, CallState, ClientMsg, Live, ResetMsg, Row, RowsMsg, call_state, row

CHUNK = 1000  # rows per message when a view asks for everything
TEXT_ROWS = 200  # entries shown by the text fallback


class LedgerView(AgentWidget):
    """``ledger_view(agent)``: the live ledger of ``agent``; a sub-agent link can be followed."""

    _esm = esm("ledger.js")
    _css = CSS
    path = t.Unicode("").tag(sync=True)  # whose ledger is shown
    accepts = frozenset({"sync", "follow"})
    with_children = True

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        super().__init__(agent, path=agent.path, **kwargs)
        self.shown = agent
        self._rows: list[Row] = []
        self._calls: dict[str, CallState] = {}
        self._live: Live | None = None
        self._live_dirty = False
        self._agents_dirty = False

    # --- updates from the agent (under the lock) ----------------------------------------------

    def collect(self, update: Update) -> bool:
        if update.agent is not self.shown:
            if isinstance(update, AgentStatusChanged):
                self._agents_dirty = True
                return True
            return False
        match update:
            case EntryAdded(entry=entry):
                self._rows.append(row(entry))
                if entry.kind == "assistant" and self._live is not None:
                    self._live, self._live_dirty = None, True
            case TaskChanged(task=task):
                clock = update.agent.clock
                state = call_state(task, clock.now(), clock.wall())
                if state is None:
                    return False
                self._calls[state["call_id"]] = state
            case TextDelivered(generation=gen, text=text):
                if self._live is None or self._live["gen"] != gen:
                    self._live = {"gen": gen, "text": ""}
                self._live["text"] += text
                self._live_dirty = True
            case StateChanged(new=new):
                if new in (State.IDLE, State.LISTENING) and self._live is not None:
                    self._live = None
                self._live_dirty = True
            case _:
                return False
        if not self.watched:  # a view that appears asks for everything anyway
            self._rows.clear()
            self._calls.clear()
        return True

    def flush(self) -> None:
        if not (self._rows or self._calls or self._live_dirty or self._agents_dirty):
            return
        msg: BatchMsg = {
            "type": "batch",
            "rows": self._rows,
            "calls": list(self._calls.values()),
            "live": self._live,
            "state": str(self.shown.state),
            "now": self.shown.clock.wall(),
        }
        if self._agents_dirty:
            msg["agents"] = self._agent_paths()
        self._rows, self._calls, self._live_dirty, self._agents_dirty = [], {}, False, False
        self.send_msg(msg)

    # --- requests from the browser ------------------------------------------------------------

    def handle(self, msg: ClientMsg) -> None:
        if msg["type"] == "follow":
            self.follow(msg["path"])
        else:
            self.resync()

    def follow(self, path: str) -> None:
        """Show the ledger of the agent at ``path`` (this widget's agent or one of its sub-agents)."""
        target = find(self.agent, path)
        with self._lock:
            self.shown = target
            self.path = target.path
            self._live = None
        self.resync()

    def resync(self) -> None:
        """Send every entry of the shown ledger, then whatever is live."""
        with self._lock:
            ledger, agent = self.shown.ledger, self.shown
            total = len(ledger)
            reset: ResetMsg = {
                "type": "reset",
                "path": agent.path,
                "total": total,
                "agents": self._agent_paths(),
            }
            self.send_msg(reset)
            now, wall = agent.clock.now(), agent.clock.wall()
            calls = [s for s in (call_state(task, now, wall) for task in agent.tasks) if s is not None]
            for start in range(0, total, CHUNK):
                chunk: RowsMsg = {
                    "type": "rows",
                    "rows": [row(ledger[i]) for i in range(start, min(total, start + CHUNK))],
                    "calls": calls if start == 0 else [],
                }
                self.send_msg(chunk)
            # Rows collected before this point are in the snapshot; calls too.
            self._rows, self._calls = [], {}
            self._live_dirty = self._agents_dirty = True
        self._throttle.flush_now()

    def _agent_paths(self) -> list[str]:
        return [a.path for a in self.agent.walk()]

    def text(self) -> str:
        entries = list(self.shown.ledger)
        shown = [e for e in entries if e.kind != "system"][-TEXT_ROWS:]
        head = f"ledger of {self.shown.path} ({self.shown.state}): {len(entries)} entries"
        if not shown:
            return head + ", no messages yet"
        if len(shown) < len(entries) - 1:
            head += f", the last {len(shown)} below"
        start = entries[0].time if entries else None
        return head + "\n" + format_entries(shown, start=start)
