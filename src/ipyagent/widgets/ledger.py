"""The live ledger view: one agent's ledger, coloured by role, with tool-call status.

Ledgers grow to millions of entries, so the browser never holds them: it asks for the rows it
can see (``window``), by position among the entries it shows; which entries those are (kinds
hidden, a search) is decided here (:class:`~.ledger_index.VisibleIndex`), from the ledger's index
of kinds, so opening a view reads no entry but those of the rows it sends. A view that appears asks
to start over (``sync``) and gets the newest rows with the answer; after that the kernel sends only
what changed, at most ~30 batches a second. A search reads every entry once: on a long ledger it
runs on a thread of its own in steps, the view says how far it got, and the view keeps showing
what it showed until the answer is ready.
"""

from __future__ import annotations

import threading
from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import AgentStatusChanged, EntryAdded, StateChanged, TaskChanged, TextDelivered, Update
from ..fsm import State
from ..ledger import Entry
from ..ledger.text import format_entries, is_empty_answer
from .base import CSS, AgentWidget, esm, find
from .ledger_index import KINDS, Search, VisibleIndex, clean_query
from .wire import BatchMsg, CallState, ClientMsg, Live, ResetMsg, Row, RowsMsg, SearchingMsg, call_state, row

WINDOW = 200  # most rows sent for one request (a tall view shows ~40)
FIRST = 120  # rows sent with a reset: the newest, enough for a tall view and some scrolling
ABOVE = 20  # rows before an anchor sent with a reset that keeps the view where it was
TEXT_ROWS = 200  # entries shown by the text fallback
RESULT_AHEAD = 50  # entries searched after a tool call for its result (it comes right after)
LOOK_AHEAD = 2000  # and for the notification that says how its task ended (a resumed ledger)
SEARCH_INLINE = 65_536  # entries searched at once when a search is typed; the rest on a thread
SEARCH_STEP = 32_768  # entries searched between two looks at whether the search is still wanted
PROGRESS_EVERY = 0.1  # seconds between two progress messages of a search
_ENDS = {
    "tool_result": "done",
    "tool_error": "failed",
    "tool_timeout": "timeout",
    "tool_cancelled": "cancelled",
}


class LedgerView(AgentWidget):
    """``ledger_view(agent)``: the live ledger of ``agent``; a sub-agent link can be followed."""

    _esm = esm("ledger.js")
    _css = CSS
    path = t.Unicode("").tag(sync=True)  # whose ledger is shown
    # The tallest the view's scrolled area gets, px (0: the browser side's own limit, below what
    # browsers allow); a longer list scrolls in proportion.
    tallest = t.Int(0, min=0).tag(sync=True)
    # The newest rows as when the view was last shown (a reset message): a view draws them as it
    # appears, without waiting for the kernel's answer to its ``sync``, which then brings it up to date.
    first = t.Dict().tag(sync=True)
    accepts = frozenset({"sync", "follow", "window", "filter"})
    with_children = True

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        super().__init__(agent, path=agent.path, **kwargs)
        self.shown = agent
        self._index = VisibleIndex(agent.ledger)
        self._search: threading.Thread | None = None
        self._searches = 0  # searches started: a running one stops when it is no longer the last
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
                if entry.index < self._index.total:  # already in (the index was made after it)
                    return False
                self._index.catch_up(entry.index)
                position = self._index.append(entry)
                if position is not None:
                    r = self._row(entry)
                    r["p"] = position
                    self._rows.append(r)
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
        if not self.watched:  # a view that appears asks to start over anyway
            self._rows.clear()
            self._calls.clear()
        return True

    def flush(self) -> None:
        if not (self._rows or self._calls or self._live_dirty or self._agents_dirty):
            return
        msg: BatchMsg = {
            "type": "batch",
            "rows": self._rows,
            "shown": len(self._index),
            "total": self._index.total,
            "counts": dict(self._index.counts),
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
        elif msg["type"] == "window":
            self.send_window(msg["start"], msg["count"])
        elif msg["type"] == "filter":
            self.set_filter([k for k in msg["hidden"].split(",") if k], msg["query"], msg.get("anchor"))
        else:
            self.resync()

    def follow(self, path: str) -> None:
        """Show the ledger of the agent at ``path`` (this widget's agent or one of its sub-agents)."""
        target = find(self.agent, path)
        with self._lock:
            hidden, query = self._index.hidden, self._index.query
            self.shown = target
            self.path = target.path
            self._live = None
            self._index = VisibleIndex(target.ledger, hidden)
            self._searches += 1  # a search of the other ledger is of no use now
        if query:
            self.set_filter(sorted(hidden), query)
        else:
            self.resync()

    def set_filter(self, hidden: list[str], query: str, anchor: Any = None) -> None:
        """Show only some kinds, or entries with some text; the view keeps reading near the
        ledger index ``anchor`` (else it goes to the newest). Hiding or showing kinds reads no
        entry; a new search reads each entry once, on a thread of its own past the first
        :data:`SEARCH_INLINE` entries, telling the view how far it got."""
        unknown = [k for k in hidden if k not in KINDS]
        if unknown:
            from ..errors import IpyagentError

            raise IpyagentError(f"unknown kind {unknown[0][:40]!r}; kinds are {', '.join(KINDS[1:])}")
        at = anchor if isinstance(anchor, int) and not isinstance(anchor, bool) else None
        query = clean_query(query)
        with self._lock:
            self._searches += 1
            if query == self._index.query:
                self._index = self._index.with_kinds(hidden)
                search = None
            elif not query:
                index = VisibleIndex(self.shown.ledger, hidden, texts=self._index.texts)
                index.catch_up(self._index.total)
                self._index, search = index, None
            else:
                search = self._index.search(query)
        if search is None:
            self.resync(self._position(at))
        elif search.step(SEARCH_INLINE):
            self._use_search(search, hidden, at, self._searches)
        else:
            self._send_progress(search)
            number = self._searches
            self._search = threading.Thread(
                target=self._run_search, args=(search, hidden, at, number), name="ledger search", daemon=True
            )
            self._search.start()

    def _run_search(self, search: Search, hidden: list[str], at: int | None, number: int) -> None:
        clock = self.shown.clock
        told = clock.now()
        try:
            while not search.step(SEARCH_STEP):
                if number != self._searches:
                    return
                if clock.now() - told >= PROGRESS_EVERY:
                    self._send_progress(search)
                    told = clock.now()
            self._use_search(search, hidden, at, number)
        except Exception as exc:  # the view says so; the kernel and the ledger are untouched
            from ..errors import one_line

            self.send_msg({"type": "error", "text": one_line(f"search failed: {type(exc).__name__}: {exc}")})

    def _send_progress(self, search: Search) -> None:
        msg: SearchingMsg = {
            "type": "searching",
            "query": search.query,
            "done": search.done_to,
            "total": search.end,
        }
        self.send_msg(msg)

    def _use_search(self, search: Search, hidden: list[str], at: int | None, number: int) -> None:
        with self._lock:
            if number != self._searches:  # another filter came since
                return
            index = VisibleIndex(self.shown.ledger, hidden, found=search, texts=self._index.texts)
            index.catch_up(self._index.total)  # entries appended while it searched
            self._index = index
        self.resync(self._position(at))

    def wait_for_search(self, timeout: float | None = None) -> bool:
        """Wait until the running search (if any) is done; False if it still runs after ``timeout``."""
        search = self._search
        if search is not None:
            search.join(timeout)
            return not search.is_alive()
        return True

    def _position(self, anchor: int | None) -> int | None:
        with self._lock:
            return None if anchor is None else self._index.position(anchor)

    def resync(self, at: int | None = None) -> None:
        """Start the view over: counts, and the rows at position ``at`` (default: the newest)."""
        with self._lock:
            self.send_msg(self._reset(at))
            # Rows collected before this point are in the snapshot; calls too.
            self._rows, self._calls = [], {}
            self._live_dirty = self._agents_dirty = True
        self._throttle.flush_now()

    def _reset(self, at: int | None = None) -> ResetMsg:
        with self._lock:
            agent, index = self.shown, self._index
            shown = len(index)
            start = max(0, shown - FIRST) if at is None else max(0, min(at, shown - 1))
            # From an anchor, a few rows above it come too: the view draws some above its top.
            first = start if at is None else max(0, start - ABOVE)
            now, wall = agent.clock.now(), agent.clock.wall()
            calls = [s for s in (call_state(task, now, wall) for task in agent.tasks) if s is not None]
            reset: ResetMsg = {
                "type": "reset",
                "path": agent.path,
                "total": index.total,
                "shown": shown,
                "counts": dict(index.counts),
                "hidden": sorted(index.hidden),
                "query": index.query,
                "agents": self._agent_paths(),
                "start": start,
                "newest": at is None,
                "rows": self._window_rows(first, FIRST),
                "calls": calls,
            }
            return reset

    def send_window(self, start: int, count: int) -> None:
        with self._lock:
            msg: RowsMsg = {
                "type": "rows",
                "start": max(0, start),
                "shown": len(self._index),
                "rows": self._window_rows(start, min(max(count, 0), WINDOW)),
            }
            self.send_msg(msg)

    def _window_rows(self, start: int, count: int) -> list[Row]:
        ledger = self.shown.ledger
        live = {t.call_id for t in self.shown.tasks}
        out: list[Row] = []
        for k, i in enumerate(self._index.window(start, count)):
            r = self._row(ledger[i], live)
            r["p"] = start + k
            out.append(r)
        return out

    def _row(self, entry: Entry, live: set[str | None] | None = None) -> Row:
        r = row(entry)
        if entry.kind == "tool_call" and entry.call_id:
            if live is None:
                live = {t.call_id for t in self.shown.tasks}
            if entry.call_id not in live:  # a live task's state comes with the calls
                r["call"] = self._call_status(entry)
        return r

    def _call_status(self, call: Entry) -> str:
        """How a tool call whose task is gone went (a resumed ledger), read from the entries
        after it: its result comes right after it, its end somewhere later."""
        ledger = self.shown.ledger
        end = len(ledger)
        task_id: str | None = None
        for i in range(call.index + 1, min(end, call.index + 1 + RESULT_AHEAD)):
            e = ledger[i]
            if e.kind == "tool_result" and e.call_id == call.call_id:
                if e.status == "rejected" or e.task_id is None:
                    return e.status or "done"
                task_id = e.task_id
                break
        if task_id is None:
            return "pending"
        for i in range(call.index + 1, min(end, call.index + 1 + LOOK_AHEAD)):
            e = ledger[i]
            if e.kind == "notification" and e.task_id == task_id:
                return _ENDS.get(e.source or "", "done")
        return "started"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.first = dict(self._reset())  # reaches the browser before the output that shows the view
        return super()._repr_mimebundle_(**kwargs)

    def _agent_paths(self) -> list[str]:
        return [a.path for a in self.agent.walk()]

    def text(self) -> str:
        """The newest :data:`TEXT_ROWS` entries (read from the end: a long ledger is not read)."""
        ledger = self.shown.ledger
        total = len(ledger)
        shown: list[Entry] = []
        i = total - 1
        while i >= 0 and len(shown) < TEXT_ROWS:
            entry = ledger[i]
            if entry.kind != "system" and not is_empty_answer(entry):
                shown.append(entry)
            i -= 1
        shown.reverse()
        head = f"ledger of {self.shown.path} ({self.shown.state}): {total} entries"
        if not shown:
            return head + ", no messages yet"
        if i >= 0:
            head += f", the last {len(shown)} below"
        start = ledger[0].time if total else None
        return head + "\n" + format_entries(shown, start=start)
