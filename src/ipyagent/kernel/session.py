"""The notebook's agent session: one main agent (and its sub-agents) per kernel, living on the
agent thread, with a live view per agent cell and the ledger in SQLite.

Methods without a leading underscore are called from the kernel's main thread (the magics);
the ones with one run on the agent thread. Everything that touches an agent goes through
:class:`~ipyagent.kernel.loop.AgentLoop`.
"""

from __future__ import annotations

import ast
import asyncio
import collections
import contextlib
import contextvars
import io
import itertools
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import IpyagentError
from . import paths
from .frontend import IPythonPublisher, KernelPublisher, publisher_for
from .loop import AgentLoop, MainThreadInbox
from .views import Approval, ExchangeView, SubAgentView

if TYPE_CHECKING:
    from ..agents import Agent, Update
    from ..dispatch.tools import Tool
    from ..ledger import Ledger

log = logging.getLogger(__name__)
W = TypeVar("W")
# How %agent --wait ended: the agent settled, it asks the user to approve code, or time ran out.
WaitOutcome = Literal["settled", "asking", "busy"]

DEFAULT_MODEL = "local"
CODE_TOOL = "run_python"
TICK_SECONDS = 1.0  # how often the views of running tasks refresh their times


class SessionError(IpyagentError):
    """Raised when a magic cannot do what was asked; its message is shown as one line."""


class NotebookSession:
    """The agent of one notebook kernel, and the views of its cells."""

    def __init__(self, shell: Any, publisher: KernelPublisher | IPythonPublisher | None = None) -> None:
        self.shell = shell
        self.publisher = publisher or publisher_for(shell)
        self.loop = AgentLoop()
        self.model = os.environ.get("IPYAGENT_MODEL") or DEFAULT_MODEL
        self.allow_code = False
        self.agent: Agent | None = None
        self.ledger: Ledger | None = None
        self.ledger_path: Path | None = None
        # Exchange views in the order their messages were sent; the first pending one gets the
        # next user entry a cell sent. Invariant: a view is in at most one of the two.
        self._pending: collections.deque[ExchangeView] = collections.deque()
        self._current: ExchangeView | None = None
        self._child_views: dict[str, SubAgentView] = {}
        self._task_views: dict[tuple[str, str], ExchangeView | SubAgentView] = {}
        self.approvals: dict[str, Approval] = {}
        self._asking: set[asyncio.Future[None]] = set()  # resolved when code asks for approval
        # Requests cancelled (by the agent, not the user) since the user last answered one: while
        # there are any, "%approve" without an id might mean one of them, not the pending one.
        self._cancelled_since_answer: list[str] = []
        # Where cell views come from. A widget takes over by setting these to subclasses that
        # show themselves differently (override ``open`` and ``flush``); the session feeds them.
        self.exchange_view: type[ExchangeView] = ExchangeView
        self.subagent_view: type[SubAgentView] = SubAgentView
        self._approval_ids = itertools.count(1)
        self._tools: dict[str, Tool] = {}
        self._unsubscribe: Any = None
        self._run_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references to background work
        try:
            main_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            main_loop = None
        self._main_thread = MainThreadInbox(main_loop)

    # --- talking to the agent (main thread) ---------------------------------------------------

    def send(self, text: str, *, interrupt: bool = False) -> ExchangeView:
        """Send ``text`` as a cell message; returns the cell's live view (already shown)."""
        from .. import events as ev

        if not text.strip():
            raise SessionError("the message is empty; write it after %agent or in the %%agent cell")
        agent = self.agent
        if agent is None or agent.status != "running":  # the common case skips a round trip
            self.loop.run(self._ensure_agent)
        view = self.exchange_view(self.publisher, self.loop.loop, text, lambda: self.agent)

        async def post() -> None:
            # The agent may have been cancelled since the check above: this starts a new one.
            try:
                agent = await self._ensure_agent()
            except Exception as exc:  # shown where the user looks, not as a traceback
                view.error = f"the message was not sent: {exc}"
                view.changed()
                return
            self._pending.append(view)
            if interrupt:
                agent.interrupt("the user sent a new message", source="magic")
            agent.post(ev.UserMessage(text, "cell"))
            self._tell_collector()

        view.open()
        self.loop.submit(lambda: self._background(post()))
        return view

    def start_child(self, how: str, name: str, task: str) -> SubAgentView:
        """Start a sub-agent whose live view is the running cell."""
        if not task.strip():
            raise SessionError(f"%%{how} {name}: the cell body is the sub-agent's task; it is empty")
        view = self.subagent_view(self.publisher, self.loop.loop, how, name, task)

        async def start() -> None:
            agent = await self._ensure_agent()
            child = agent.start_child(how, task, name)[0]
            view.agent = child
            self._child_views[child.path] = view

        self.loop.run(start)
        view.open()
        return view

    def interrupt(self, source: str = "magic") -> str:
        """Cut off what the agent (and every sub-agent) is generating or saying; returns what
        was stopped, in a line for the user. From the Jupyter button (a signal handler) the
        interruption is only queued, since the agent thread may be busy."""
        reason = (
            "stopped with the Jupyter interrupt button" if source == "button" else "interrupted by %interrupt"
        )

        def go() -> str:
            return interrupt_all(self._all_agents(), reason, source)

        if not self.loop.running:
            return "nothing to interrupt: no agent yet"
        if source == "button":
            self.loop.submit(go)
            return ""
        return self.loop.call(go)

    def cancel(self, name: str) -> str:
        def go() -> str:
            agent = self._find(name)
            if agent.status != "running":
                raise SessionError(f"agent {agent.path!r} is not running ({agent.status})")
            agent.cancel("cancelled with %cancel")
            return f"cancelled {agent.path}"

        return self.loop.call(go)

    def wait(self, timeout: float) -> WaitOutcome:
        """Block until the agent is settled (idle, nothing running): "settled"; or until it asks
        the user to approve code, which they cannot do while this blocks the kernel: "asking";
        or for ``timeout`` seconds: "busy". Code the agent runs in the notebook meanwhile (allowed,
        or approved with a button) runs here, since this holds the main thread."""
        if self.agent is None:
            return "settled"

        async def settle() -> WaitOutcome:
            agent = self.agent
            if agent is None:
                return "settled"
            if self.pending_approvals():
                return "asking"
            loop = asyncio.get_running_loop()
            asked: asyncio.Future[None] = loop.create_future()
            self._asking.add(asked)
            settled = loop.create_task(agent.settled())
            try:
                await asyncio.wait({settled, asked}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._asking.discard(asked)
                settled.cancel()
                for view in self._views():
                    view.flush_if_pending()
            if settled.done() and not settled.cancelled():
                return "settled"
            return "asking" if asked.done() else "busy"

        return self.loop.run(settle, timeout=timeout + 10, serve=self._main_thread)

    def asking_line(self) -> str:
        """One line for the user when the agent waits for their approval (main thread)."""
        ids = [a.id for a in self.loop.call(self.pending_approvals)]
        if not ids:
            return "the agent asked to run code; that request has been answered"
        if len(ids) > 1:
            return (
                f"the agent is waiting for you: requests {', '.join(ids)} ask to run code (shown in "
                "their cells); %approve ID runs one, %deny ID refuses it"
            )
        return (
            f"the agent is waiting for you: %approve {ids[0]} runs its code, %deny {ids[0]} refuses "
            "(the code is shown in its cell)"
        )

    def pending_approvals(self) -> list[Approval]:
        """Requests to run code that wait for the user's %approve or %deny, oldest first (agent
        loop)."""
        return [a for a in self.approvals.values() if a.status == "pending"]

    # --- model, tools, code approval (main thread) --------------------------------------------

    def set_model(self, spec: str) -> str:
        from ..clock import RealClock
        from ..dispatch.backends import resolve

        def go() -> str:
            backend = resolve(spec, self.agent.clock if self.agent else RealClock())
            self.model = spec
            if self.agent is not None:
                # Between events: the next generation uses it; a running one finishes on the old.
                self.agent.backend = backend
                self.agent.dispatcher.backend = backend
            return backend.name

        return self.loop.call(go)

    def sync_tools(self) -> list[str]:
        """Make every ``@tool`` in the notebook's namespace available to the agent; returns the
        names that were new or changed."""
        # Until the tools module is loaded (the warm-up thread may be loading it right now),
        # nothing can be a Tool; do not import it here, so that cells stay light.
        tool_class: type[Tool] | None = getattr(sys.modules.get("ipyagent.dispatch.tools"), "Tool", None)
        if not isinstance(tool_class, type):
            return []
        tools: list[Tool] = [
            v
            for k, v in list(self.shell.user_ns.items())
            if not k.startswith("_") and isinstance(v, tool_class)
        ]
        found = {t.name: t for t in tools}
        changed = [n for n, t in found.items() if self._tools.get(n) is not t]
        if not changed:
            return []
        self._tools.update(found)
        if self.agent is not None:
            tools = [found[n] for n in changed]

            def add() -> None:
                if self.agent is not None:
                    for t in tools:
                        self.agent.add_tool(t)

            self.loop.submit(add)
        return changed

    def tool_list(self) -> list[tuple[str, str, str]]:
        """``(name, where it comes from, first line of its description)`` for every tool."""
        self.sync_tools()

        def go() -> list[tuple[str, str, str]]:
            agent = self.agent
            if agent is None:
                tools = {**{t.name: t for t in self._builtin_tools()}, **self._tools}
            else:
                tools = dict(agent.tools)
            rows = []
            for name, t in sorted(tools.items()):
                where = "notebook" if name in self._tools else "built-in"
                first = t.description.strip().splitlines()[0] if t.description.strip() else ""
                rows.append((name, where, first))
            return rows

        return self.loop.call(go)

    def answer(self, approval_id: str | None, yes: bool) -> str:
        def go() -> str:
            pending = self.pending_approvals()
            if approval_id is None:
                if len(pending) != 1:
                    ids = ", ".join(a.id for a in pending) or "none"
                    raise SessionError(f"say which request: pending requests: {ids}")
                approval = pending[0]
                if yes and self._cancelled_since_answer:
                    # The request the user read may be gone and this one new: never run code on
                    # a guess (refusing it is safe either way).
                    gone = ", ".join(self._cancelled_since_answer)
                    raise SessionError(
                        f"request {gone} was cancelled and {approval.id} is a new one; "
                        f"read it, then %approve {approval.id}"
                    )
            else:
                found = self.approvals.get(approval_id)
                if found is None:
                    raise SessionError(
                        f"no request {approval_id!r}; pending: {', '.join(a.id for a in pending) or 'none'}"
                    )
                approval = found
            if approval.status != "pending":
                raise SessionError(f"request {approval.id} was already {approval.status}")
            approval.status = "approved" if yes else "denied"
            if approval.answer is not None and not approval.answer.done():
                approval.answer.set_result(yes)
            self._cancelled_since_answer.clear()
            self._views_changed()
            return f"request {approval.id} {approval.status}"

        return self.loop.call(go)

    def set_allow_code(self, allow: bool) -> None:
        self.allow_code = allow

    # --- reading (main thread) ----------------------------------------------------------------

    def tree(self) -> str:
        from ..ledger.text import qualified_task_id

        def go() -> str:
            if self.agent is None:
                return "no agent yet: send it a message with %agent MESSAGE"
            lines: list[str] = []

            def walk(agent: Agent, depth: int) -> None:
                running = [t for t in agent.dispatcher.tasks.values() if t.running]
                now = agent.clock.now()
                from ..clock import format_duration

                tasks = ", ".join(
                    f"{qualified_task_id(agent.path, t.task_id)} {t.name} {format_duration(t.elapsed(now))}"
                    for t in running
                )
                indent = "  " * depth + ("└─ " if depth else "")
                # One word per agent: what it does while it runs, how it ended otherwise.
                status = str(agent.state) if agent.status == "running" else agent.status
                if agent.failure and agent.status != "running":
                    status += f": {agent.failure}"
                lines.append(
                    f"{indent}{agent.name:<{max(4, 16 - len(indent))}} {status:<12} "
                    f"{len(agent.ledger):>4} entries" + (f"   running: {tasks}" if tasks else "")
                )
                for child in agent.children.values():
                    walk(child, depth + 1)

            walk(self.agent, 0)
            return "\n".join(lines)

        return self.loop.call(go)

    def ledger_text(self, name: str | None, *, system: bool = False) -> str:
        from ..ledger.text import format_entries

        def go() -> str:
            try:
                agent = self._find(name or "main")
                ledger, path = agent.ledger, agent.path
            except SessionError:
                # A sub-agent of a resumed session is not running, but its ledger is in the file.
                found = self._stored_ledger(name or "main")
                if found is None:
                    raise
                ledger, path = found, found.name
            text = format_entries(ledger, system=system)
            where = f" ({self.ledger_path})" if self.ledger_path else ""
            return f"ledger of {path}: {len(ledger)} entries{where}\n{text}"

        return self.loop.call(go)

    def widget(self, make: Callable[[Agent], W], name: str | None = None, *, start: bool = False) -> W | None:
        """``make(agent)`` for the agent ``name`` (default: the main agent; with ``start``, started
        if there is none yet), or None when there is no such agent running (none yet, or a resumed
        session's sub-agent whose ledger is in the file: show the text instead).

        The widget is made on the agent thread, so no update slips between the state it starts
        from and its subscription, but in the cell's context, so its comm belongs to the cell.
        Where the kernel can, the browser's messages to it are served off the main thread
        (see :meth:`IpyagentKernel.serve_off_main`), so it answers while a cell blocks.
        """
        cell = contextvars.copy_context()

        async def go() -> W | None:
            if start and name is None:
                agent = await self._ensure_agent()
            elif not self._all_agents():
                return None
            else:
                try:
                    agent = self._find(name or "main")
                except SessionError:
                    if self._stored_ledger(name or "main") is None:
                        raise
                    return None
            return cell.run(make, agent)

        widget = self.loop.run(go)
        comm = getattr(widget, "comm", None)
        serve = getattr(getattr(self.shell, "kernel", None), "serve_off_main", None)
        if comm is not None and serve is not None:
            serve(comm)
        return widget

    def _stored_ledger(self, name: str) -> Ledger | None:
        store = self.ledger.store if self.ledger is not None else None
        if store is None:
            return None
        from ..ledger import Ledger

        for stored in store.names():
            if name in (stored, stored.rsplit("/", 1)[-1]):
                return Ledger.load(store, stored)
        return None

    def resume(self, path: str | None = None) -> str:
        """Bring back an earlier session of this notebook (the newest, or the file ``path``)."""

        if path is not None:
            file = Path(path).expanduser()
            if not file.is_file():
                raise SessionError(f"no session file {file}")
        else:
            files = paths.earlier_sessions(self.shell.user_ns, exclude=self.ledger_path)
            if not files:
                raise SessionError(
                    f"no earlier session of this notebook in {paths.notebook_dir(self.shell.user_ns)}"
                )
            file = files[0]

        async def go() -> str:
            if self.agent is not None and any(e.kind == "user" for e in self.agent.ledger):
                raise SessionError(
                    "this kernel already has a conversation; restart the kernel, then %agent --resume"
                )
            await self._close_agent()
            self._drop_empty_file()
            self._open_ledger(file)
            assert self.ledger is not None
            count = len(self.ledger)  # the agent may add some: what died with the last kernel
            await self._ensure_agent()
            from ..ledger.text import format_entries

            text = format_entries(self.ledger, system=False)
            return f"resumed {count} entries from {file}\n{text}"

        return self.loop.run(go)

    def close(self) -> None:
        if self.loop.running:
            with contextlib.suppress(Exception):
                self.loop.run(self._close_agent, timeout=5)
            self.loop.stop()

    # --- the agent thread ---------------------------------------------------------------------

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task on the agent loop; a failure is logged."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_crash)

    def _builtin_tools(self) -> list[Tool]:
        from ..dispatch.tools import Tool

        session = self

        async def run_python(code: str) -> str:
            approval = await session._approve(CODE_TOOL, code)
            if approval is not None and approval.status != "approved":
                raise PermissionError(f"the user did not allow running this code (request {approval.id})")
            return await session._run_in_notebook(code)

        schema = {
            "type": "object",
            "properties": {"code": {"type": "string", "minLength": 1}},
            "required": ["code"],
            "additionalProperties": False,
        }
        return [
            Tool(
                run_python,
                CODE_TOOL,
                "Run Python code in the user's notebook, where their variables live. The user must "
                "approve each run. Returns what the code printed and the value of its last expression.",
                schema,
            )
        ]

    def _open_ledger(self, file: Path) -> None:
        from ..ledger import Ledger

        self.ledger = Ledger.open(file, "main")
        self.ledger_path = file

    def _drop_empty_file(self) -> None:
        """Forget this session's file if nobody ever talked in it (no user entry)."""
        if self.ledger is None or self.ledger_path is None:
            return
        if any(e.kind == "user" for e in self.ledger):
            return
        if self.ledger.store is not None:
            self.ledger.store.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(str(self.ledger_path) + suffix).unlink()
        self.ledger = None
        self.ledger_path = None

    async def _ensure_agent(self) -> Agent:
        agent = self.agent
        if agent is not None and agent.status in ("new", "running"):
            return agent
        from ..agents import Agent

        if self.ledger is None:
            self._open_ledger(paths.new_session_file(self.shell.user_ns))
        tools = [*self._builtin_tools(), *self._tools.values()]
        # A new agent after a cancelled one keeps its model (and a script's place in it).
        model = self.agent.backend if self.agent is not None else self.model
        agent = Agent(model, tools=tools, ledger=self.ledger, name="main")
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = agent.subscribe(self._on_update, children=True)
        self.agent = agent
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="ipyagent ticker")
        from ..agents.updates import AgentStatusChanged

        started = asyncio.Event()
        stop_watching = agent.subscribe(
            lambda u: started.set() if isinstance(u, AgentStatusChanged) else None
        )
        loop = asyncio.get_running_loop()
        task = loop.create_task(agent.run(), name="ipyagent main")
        task.add_done_callback(_log_crash)
        self._run_task = task
        waiter = loop.create_task(started.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stop_watching()
        if task.done():
            task.result()
        return agent

    async def _tick(self) -> None:
        """While tasks run, refresh the views once a second so their running times move; tell
        the kernel's garbage collection policy whether the agents are busy."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if any(t.running for a in self._all_agents() for t in a.dispatcher.tasks.values()):
                self._views_changed()
            self._tell_collector()

    def _tell_collector(self) -> None:
        """The ipyagent kernel holds full garbage collections back while the agents are busy
        (kernel/collector.py); other kernels are left alone (agent loop)."""
        policy = getattr(getattr(self.shell, "kernel", None), "collection_policy", None)
        if policy is not None:
            agent = self.agent
            busy = agent is not None and agent.status == "running" and not agent.is_settled()
            policy.update(busy)

    async def _close_agent(self) -> None:
        if self.agent is not None:
            await self.agent.aclose()
            task, self._run_task = self._run_task, None
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            self.agent = None

    def _all_agents(self) -> list[Agent]:
        out: list[Agent] = []

        def walk(a: Agent) -> None:
            out.append(a)
            for c in a.children.values():
                walk(c)

        if self.agent is not None:
            walk(self.agent)
        return out

    def _find(self, name: str) -> Agent:
        agents = self._all_agents()
        if not agents:
            raise SessionError("no agent yet: send it a message with %agent MESSAGE")
        for a in agents:
            if name in (a.path, a.name):
                return a
        known = ", ".join(a.path for a in agents)
        raise SessionError(f"no agent named {name!r}; agents: {known}")

    def _view_of(self, agent: Agent) -> ExchangeView | SubAgentView | None:
        if agent is self.agent:
            return self._current
        return self._child_views.get(agent.path)

    def _views(self) -> list[ExchangeView | SubAgentView]:
        """The views that may still change: the current exchange, sub-agents, views with tasks."""
        found: dict[int, ExchangeView | SubAgentView] = {}
        for view in [self._current, *self._child_views.values(), *self._task_views.values()]:
            if view is not None:
                found[id(view)] = view
        return list(found.values())

    def _views_changed(self) -> None:
        for view in self._views():
            view.changed()

    def _on_update(self, update: Update) -> None:
        from ..agents.updates import EntryAdded, ModelStatus, TaskChanged, TextDelivered

        agent = update.agent
        if isinstance(update, EntryAdded) and agent is self.agent:
            entry = update.entry
            if entry.kind == "user" and entry.source == "cell" and self._pending:
                if self._current is not None:
                    self._current.end = entry.index
                    self._current.changed()
                self._current = self._pending.popleft()
                self._current.start = entry.index
        view = self._view_of(agent)
        if isinstance(update, TextDelivered) and view is not None:
            view.live[update.generation] = view.live.get(update.generation, "") + update.text
            view.model_status = ""
        elif isinstance(update, ModelStatus) and view is not None:
            view.model_status = update.text
        elif isinstance(update, EntryAdded) and view is not None:
            entry = update.entry
            if entry.kind == "assistant" and entry.generation is not None:
                view.live.pop(entry.generation, None)
            if entry.kind == "tool_result" and entry.task_id:
                self._task_views[(agent.path, entry.task_id)] = view
        elif isinstance(update, TaskChanged):
            key = (agent.path, update.task.task_id)
            owner = self._task_views.get(key)
            if owner is not None and owner is not view:
                owner.changed()
            if owner is not None and not update.task.running:
                del self._task_views[key]
        if view is not None:
            view.changed()
        if agent is not self.agent and self._current is not None:
            self._current.changed()  # a sub-agent's progress shows in its task line

    async def _approve(self, tool: str, code: str) -> Approval | None:
        """Wait for the user's answer to running ``code``; ``None`` when code is allowed."""
        if self.allow_code:
            return None
        approval = Approval(f"r{next(self._approval_ids)}", tool, code)
        approval.answer = asyncio.get_running_loop().create_future()
        self.approvals[approval.id] = approval
        for asked in self._asking:  # a cell waiting with %agent --wait hands over to the user
            if not asked.done():
                asked.set_result(None)
        view = self._asking_view(code)
        if view is not None:
            view.approvals.append(approval)
            view.changed()
        try:
            await approval.answer
        except asyncio.CancelledError:
            approval.status = "cancelled"
            self._cancelled_since_answer.append(approval.id)
            if view is not None:
                view.changed()
            raise
        return approval

    def _asking_view(self, code: str) -> ExchangeView | SubAgentView | None:
        """The view of the agent whose running call asks for this code."""
        for agent in reversed(self._all_agents()):
            for task in agent.dispatcher.tasks.values():
                if task.running and task.name == CODE_TOOL and task.arguments.get("code") == code:
                    view = self._view_of(agent)
                    if view is not None:
                        return view
        return self._current

    async def _run_in_notebook(self, code: str) -> str:
        """Run ``code`` in the notebook's namespace, on the kernel's main thread (so it never runs
        at the same time as a cell, and its output is captured, not printed into some cell)."""
        ns = self.shell.user_ns
        if not self._main_thread.available:
            return await asyncio.to_thread(run_code, code, ns)
        return await self._main_thread.run(lambda: run_code(code, ns))


def interrupt_all(agents: list[Agent], reason: str, source: str) -> str:
    """Interrupt every running agent that is saying or generating something; a line saying what
    was stopped (and that tools keep running)."""
    stopped, tools = [], []
    for agent in agents:
        if agent.status != "running":
            continue
        tools += [t for t in agent.tasks if t.running]
        if agent.state in ("generating", "emitting"):
            stopped.append(f"{agent.path} ({agent.state})")
        agent.interrupt(reason, source=source)  # type: ignore[arg-type]
    keep = (
        f"; {len(tools)} tool call(s) keep running (%cancel NAME stops an agent and its tools)"
        if tools
        else ""
    )
    if not stopped:
        return f"nothing to interrupt: no agent is generating or speaking{keep}"
    return f"interrupted {', '.join(stopped)}{keep}"


def run_code(code: str, namespace: dict[str, Any]) -> str:
    """Execute ``code`` like a cell: statements, then the value of a final expression.
    Returns what it printed plus that value's repr; exceptions propagate."""
    tree = ast.parse(code, "<agent code>", "exec")
    last: ast.Expression | None = None
    final = tree.body[-1] if tree.body else None
    if isinstance(final, ast.Expr):
        tree.body.pop()
        last = ast.Expression(final.value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        exec(compile(tree, "<agent code>", "exec"), namespace)
        value = eval(compile(last, "<agent code>", "eval"), namespace) if last is not None else None
    text = out.getvalue()
    if value is not None:
        text += repr(value)
    return text if text.strip() else "ran without output"


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("ipyagent: agent work failed", exc_info=task.exception())
