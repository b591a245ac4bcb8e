"""The notebook's agent session: one main agent (and its sub-agents) per kernel, living on the
agent thread, with a live view per agent cell and the ledger in SQLite.

Methods without a leading underscore are called from the kernel's main thread (the magics);
the ones with one run on the agent thread. Everything that touches an agent goes through
:class:`~ipyagent.kernel.loop.AgentLoop`. Code approval and ``run_python`` live in
:mod:`.approval`, the routing of updates to cell views in :mod:`.routing`; the text reports
are beside the text views of the ledger and of the agent tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import sys
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..clock import Clock, RealClock
from ..events import InterruptSource
from ..throttle import ClockTimer, Timer
from . import paths
from .approval import CodeApprovals, SessionError
from .frontend import IPythonPublisher, KernelPublisher, publisher_for
from .loop import AgentLoop, MainThreadInbox
from .routing import ViewRouter
from .views import ExchangeView, SubAgentView

if TYPE_CHECKING:
    from ..agents import Agent
    from ..agents.subagents import SubAgentHow
    from ..dispatch.limits import ModelCallLimit
    from ..dispatch.tools import BaseTool, Tool
    from ..ledger import Ledger

__all__ = ["NotebookSession", "SessionError", "WaitOutcome"]

log = logging.getLogger(__name__)
W = TypeVar("W")
# How %agent --wait ended: the agent settled, it asks the user to approve code, or time ran out.
WaitOutcome = Literal["settled", "asking", "busy"]

DEFAULT_MODEL = "local"
TICK_SECONDS = 1.0  # how often the views of running tasks refresh their times


class NotebookSession:
    """The agent of one notebook kernel, and the views of its cells."""

    def __init__(self, shell: Any, publisher: KernelPublisher | IPythonPublisher | None = None) -> None:
        self.shell = shell
        self.publisher = publisher or publisher_for(shell)
        self.loop = AgentLoop()
        # The session's own timers (the ticker, --wait's limit, the views' coalescing) run on
        # this clock, on the agent loop; a test may set ``view_timer`` to a virtual one.
        self.clock: Clock = RealClock()
        self.view_timer: Timer | None = None
        self.model = os.environ.get("IPYAGENT_MODEL") or DEFAULT_MODEL
        # One limit for every agent this kernel runs, a new one after a cancel included; made
        # with the first agent (IPYAGENT_MODEL_CALLS), so that the kernel starts light.
        self.model_calls: ModelCallLimit | None = None
        self.agent: Agent | None = None
        self.ledger: Ledger | None = None
        self.ledger_path: Path | None = None
        self.views = ViewRouter()
        # Where cell views come from. A widget takes over by setting these to subclasses that
        # show themselves differently (override ``open`` and ``flush``); the session feeds them.
        self.exchange_view: type[ExchangeView] = ExchangeView
        self.subagent_view: type[SubAgentView] = SubAgentView
        self._tools: dict[str, Tool] = {}
        from .mcp import NotebookMcp

        self.mcp = NotebookMcp(self)
        self._unsubscribe: Any = None
        self._run_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references to background work
        try:
            main_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            main_loop = None
        self._main_thread = MainThreadInbox(main_loop)
        self.code = CodeApprovals(
            self._main_thread,
            lambda: self.shell.user_ns,
            lambda approval: self.views.place(approval, self._all_agents()),
            self.views.all_changed,
        )

    # --- talking to the agent (main thread) ---------------------------------------------------

    def send(self, text: str, *, interrupt: bool = False) -> ExchangeView:
        """Send ``text`` as a cell message; returns the cell's live view (already shown)."""
        if not text.strip():
            raise SessionError("the message is empty; write it after %agent or in the %%agent cell")
        view = self.exchange_view(self.publisher, self.loop.loop, self._timer(), text, lambda: self.agent)
        exchange = uuid.uuid4().hex

        async def deliver() -> None:
            # The agent may have been cancelled since it was last seen running: this starts a new one.
            agent = await self._ensure_agent()
            self.views.expect(exchange, view)
            await agent.send(text, interrupt=interrupt, source="cell", exchange=exchange)
            self._tell_collector()

        agent = self.agent
        if agent is None or agent.status != "running":
            # Starting the agent: a model that cannot start is this magic's error.
            self.loop.run(deliver)
            view.open()
            return view

        async def deliver_or_show() -> None:
            try:
                await deliver()
            except Exception as exc:  # shown where the user looks, not as a traceback
                view.error = f"the message was not sent: {exc}"
                view.changed()

        view.open()
        self.loop.submit(lambda: self._background(deliver_or_show()))
        return view

    def start_child(self, how: SubAgentHow, name: str, task: str) -> SubAgentView:
        """Start a sub-agent whose live view is the running cell."""
        if not task.strip():
            raise SessionError(f"%%{how} {name}: the cell body is the sub-agent's task; it is empty")
        view = self.subagent_view(self.publisher, self.loop.loop, self._timer(), how, name, task)

        async def start() -> None:
            agent = await self._ensure_agent()
            child = agent.start_child(how, task, name)[0]
            view.agent = child
            self.views.add_child(child, view)

        self.loop.run(start)
        view.open()
        return view

    def interrupt(self, source: InterruptSource = "magic") -> str:
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
            if self.code.pending():
                return "asking"
            asked = self.code.asked()
            loop = asyncio.get_running_loop()
            settled = loop.create_task(agent.settled())
            limit = loop.create_task(self.clock.sleep(timeout))
            try:
                await asyncio.wait({settled, asked, limit}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.code.forget(asked)
                settled.cancel()
                limit.cancel()
                for view in self.views.views():
                    view.flush_if_pending()
            if settled.done() and not settled.cancelled():
                return "settled"
            return "asking" if asked.done() else "busy"

        return self.loop.run(settle, timeout=timeout + 10, serve=self._main_thread)

    def asking_line(self) -> str:
        """One line for the user when the agent waits for their approval (main thread)."""
        ids = [a.id for a in self.loop.call(self.code.pending)]
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

    # --- model, tools, code approval (main thread) --------------------------------------------

    def set_model(self, spec: str) -> str:
        from ..dispatch.backends import resolve

        def go() -> str:
            backend = resolve(spec, self.agent.clock if self.agent else self.clock)
            self.model = spec
            if self.agent is not None:
                self.agent.set_backend(backend)
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
        if self.mcp.configs():  # listing them is a use: the servers start, their tools show
            self.mcp.start(timeout=120)

        def go() -> list[tuple[str, str, str]]:
            agent = self.agent
            tools: dict[str, BaseTool]
            if agent is None:
                run_python = self.code.tool()
                tools = {run_python.name: run_python, **self._tools}
            else:
                tools = dict(agent.tools)
            rows = []
            for name, t in sorted(tools.items()):
                server = getattr(t, "server", None)
                where = f"mcp:{server}" if server else "notebook" if name in self._tools else "built-in"
                first = t.description.strip().splitlines()[0] if t.description.strip() else ""
                rows.append((name, where, first))
            return rows

        return self.loop.call(go)

    def answer(self, approval_id: str | None, yes: bool) -> str:
        """The user's %approve (``yes``) or %deny of a request to run code."""
        return self.loop.call(lambda: self.code.answer(approval_id, yes))

    def set_allow_code(self, allow: bool) -> None:
        self.code.allow_code = allow

    # --- reading (main thread) ----------------------------------------------------------------

    def tree(self) -> str:
        from ..agents.tree import tree_report

        def go() -> str:
            if self.agent is None:
                return "no agent yet: send it a message with %agent MESSAGE"
            return tree_report(self.agent)

        return self.loop.call(go)

    def ledger_text(self, name: str | None, *, system: bool = False) -> str:
        from ..ledger.text import ledger_report

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
            return ledger_report(ledger, path, self.ledger_path, system=system)

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

    def _timer(self) -> Timer:
        """The views' timer: the session's clock, on the agent loop (made on first use)."""
        if self.view_timer is None:
            self.view_timer = ClockTimer(self.clock, self.loop.loop)
        return self.view_timer

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task on the agent loop; a failure is logged."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_crash)

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
        tools = [self.code.tool(), *self._tools.values()]
        # A new agent after a cancelled one keeps its model (and a script's place in it).
        model = self.agent.backend if self.agent is not None else self.model
        if self.model_calls is None:
            from ..dispatch.limits import ModelCallLimit

            self.model_calls = ModelCallLimit.from_environment()
        agent = Agent(
            model,
            tools=tools,
            ledger=self.ledger,
            name="main",
            model_calls=self.model_calls,
            mcp=self.mcp.configs(),
        )
        self.mcp.attach(agent.mcp)
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = agent.subscribe(self.views.on_update, children=True)
        self.agent = agent
        self.views.main = agent
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
            await self.clock.sleep(TICK_SECONDS)
            if any(t.running for a in self._all_agents() for t in a.tasks):
                self.views.all_changed()
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
        return list(self.agent.walk()) if self.agent is not None else []

    def _find(self, name: str) -> Agent:
        if self.agent is None:
            raise SessionError("no agent yet: send it a message with %agent MESSAGE")
        found = self.agent.find(name)
        if found is None:
            known = ", ".join(a.path for a in self.agent.walk())
            raise SessionError(f"no agent named {name!r}; agents: {known}")
        return found


def interrupt_all(agents: list[Agent], reason: str, source: InterruptSource) -> str:
    """Interrupt every running agent; a line saying which ones were cut off while generating or
    speaking (and that tools keep running)."""
    stopped, tools = [], []
    for agent in agents:
        if agent.status != "running":
            continue
        tools += [t for t in agent.tasks if t.running]
        if agent.state in ("generating", "emitting"):
            stopped.append(f"{agent.path} ({agent.state})")
        agent.interrupt(reason, source=source)
    keep = (
        f"; {len(tools)} tool call(s) keep running (%cancel NAME stops an agent and its tools)"
        if tools
        else ""
    )
    if not stopped:
        return f"nothing to interrupt: no agent is generating or speaking{keep}"
    return f"interrupted {', '.join(stopped)}{keep}"


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("ipyagent: agent work failed", exc_info=task.exception())
