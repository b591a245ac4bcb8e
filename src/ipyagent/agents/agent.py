"""The agent: a dialog state machine running on its own queue, with a dispatcher for the model and
the tools, a ledger, and sub-agents.

``send()`` only queues an event and returns; the runner takes events off the queue in priority
order, looks each up in the transition table, and carries out the effects. Nothing in the runner
awaits the model or a tool: those run as tasks that post events back.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.abc

from .. import events as ev
from ..clock import Clock, RealClock, set_current_clock
from ..dispatch.backends import Backend, resolve
from ..dispatch.backends.base import close_backend
from ..dispatch.dispatcher import Dispatcher, Generation
from ..dispatch.limits import ModelCallLimit
from ..dispatch.output import InterruptionPolicy, OutputChannel, TextOutput
from ..dispatch.tasks import BackgroundTask, TaskRunner
from ..dispatch.tools import BaseTool, as_tool
from ..errors import AgentError
from ..fsm import Effect, State, Transition, step
from ..ledger import Entry, Ledger
from . import subagents, tree
from .builtins import builtin_tools
from .subagents import SubAgentHow
from .tree import AGENT_NAME, NAME_RULE
from .updates import (
    AgentStatusChanged,
    EntryAdded,
    EventHandled,
    ModelStatus,
    StateChanged,
    TaskChanged,
    TextDelivered,
    Update,
)

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTIONS = (
    "You are ipyagent, a helpful assistant in a Jupyter notebook. Your tools run in the background: "
    "after calling one, keep talking to the user; its result arrives later as a notification. "
    "Use results when they arrive, and never call a tool again while it is still running."
)

AgentStatus = Literal["new", "running", "done", "failed", "cancelled", "closed"]
Subscriber = Callable[[Update], None]
# Seconds a result waits for others to share its generation: far below a model's reply time,
# long enough to gather calls that end together (see the README's "Tools" section).
DEFAULT_FOLD_WINDOW = 0.25
STATE_HISTORY = 5000  # states kept per agent for views opened later (%timeline)
_STATES = tuple(State)
_STATE_CODES = {state: code for code, state in enumerate(_STATES)}
# Who interrupts when a message is sent with ``interrupt=True``: a cell's %agent --interrupt is a
# magic; the chat box (and the API, which acts for it) types over the agent.
_INTERRUPTED_BY: dict[ev.UserSource, ev.InterruptSource] = {"cell": "magic"}


class Agent:
    """An asynchronous agent.

    Parameters:
        model: ``"scripted:PATH"`` or a backend object.
        tools: functions or :class:`~ipyagent.Tool` s the model may call (sync or async).
        name: the agent's name; sub-agents get their own.
        instructions: the system message, written when the ledger is new.
        clock: where time comes from (default: the real clock).
        ledger: a :class:`~ipyagent.ledger.Ledger`, or a path to a ledger file to open or resume.
        output: how answers reach the user (default: text, delivered at once).
        listen_timeout: seconds of silence after which a listening agent goes back to idle; the
            voice bridge calls :meth:`user_active` on every voiced frame, so a long utterance
            never times out while the user is still talking.
        interruption: when the user's voice may cut an answer off (:class:`InterruptionPolicy`);
            :meth:`say` can set it for one answer.
        turn_based: a baseline for comparisons: user turns wait until every tool has finished.
        fold_window: seconds a tool's result waits, counted from when the tool finished, for
            other results to answer them together in one generation (0: answer each at once).
            Longer windows mean fewer generations (less prompt processing) but later answers;
            a user message never waits, nor does a result when no other task is running.
        builtins: include the built-in tools (sleep, set_timer, cancel_task, list_tasks, fork, spawn).
        mcp: MCP servers whose tools the agent may call, ``{"name": {"command": ..., "args": [...],
            "env": {...}}}`` or ``{"name": {"url": ...}}`` (a ``{"mcpServers": ...}`` dict too);
            they start on first use and stop with the agent. Sub-agents share their parent's.
        model_calls: at most this many generations of the agent and its sub-agents stream at
            once (a number or a shared :class:`~ipyagent.dispatch.limits.ModelCallLimit`; default:
            no limit). Sub-agents always share their parent's.

    Use it as ``async with Agent(...) as agent:``, or just ``await agent.send(...)`` on an asyncio
    loop (in a notebook), which starts it in the background.
    """

    def __init__(
        self,
        model: str | Backend = "local",
        *,
        tools: Iterable[BaseTool | Callable[..., Any]] = (),
        name: str = "main",
        instructions: str = DEFAULT_INSTRUCTIONS,
        clock: Clock | None = None,
        ledger: Ledger | str | Path | None = None,
        output: OutputChannel | None = None,
        listen_timeout: float = 5.0,
        interruption: InterruptionPolicy | None = None,
        turn_based: bool = False,
        fold_window: float = DEFAULT_FOLD_WINDOW,
        builtins: bool = True,
        mcp: Any = None,
        parent: Agent | None = None,
        model_calls: ModelCallLimit | int | None = None,
    ) -> None:
        if not AGENT_NAME.match(name):
            raise AgentError(f"agent name {name!r} must be {NAME_RULE}")
        self.name = name
        self.parent = parent
        self.path: str = name if parent is None else f"{parent.path}/{name}"
        self.clock: Clock = clock or RealClock()
        self.instructions = instructions
        self.listen_timeout = listen_timeout
        self.interruption = interruption or InterruptionPolicy()
        self.turn_based = turn_based
        if not (isinstance(fold_window, int | float) and 0 <= fold_window <= 60):
            raise AgentError(f"fold_window must be between 0 and 60 seconds, not {fold_window!r}")
        self.fold_window = float(fold_window)
        self.backend: Backend = resolve(model, self.clock)
        self.output: OutputChannel = output or TextOutput()
        if isinstance(ledger, Ledger):
            self.ledger = ledger
        elif ledger is not None:
            self.ledger = Ledger.open(ledger, self.path)
        else:
            self.ledger = Ledger(self.path)
        self.children: dict[str, Agent] = {}
        self.status: AgentStatus = "new"
        self.failure: str | None = None
        self.task_id: str | None = None  # set on a sub-agent: its task in the parent
        if parent is not None:
            shared_calls = parent.dispatcher.model_calls
        elif isinstance(model_calls, ModelCallLimit):
            shared_calls = model_calls
        else:
            shared_calls = ModelCallLimit(model_calls)
        self.runner = TaskRunner(clock=self.clock, post=self._post, on_change=self._task_changed)
        self.dispatcher: Dispatcher = Dispatcher(
            agent_name=name,
            backend=self.backend,
            clock=self.clock,
            output=self.output,
            runner=self.runner,
            post=self._post,
            on_delivered=lambda gen, text: self._publish(TextDelivered(self, gen, text)),
            on_status=lambda text: self._publish(ModelStatus(self, text)),
            model_calls=shared_calls,
        )
        self._user_tools: list[BaseTool] = []
        for builtin in self._builtin_tools() if builtins else []:
            self.dispatcher.add_tool(builtin)
        for fn in tools:
            self.add_tool(fn)
        self._builtins = builtins
        from ..mcp import McpServers

        self.mcp: McpServers = parent.mcp if parent is not None else McpServers.from_spec(mcp, self.clock)
        if parent is None:
            self.mcp.on_fault = self._mcp_fault
        self.dispatcher.prepare_tools = self._prepare_tools
        self._state = State.IDLE
        # When each state was entered, oldest first, so a view opened later can draw the past:
        # 9 bytes a state (a float and the state's number), since a long session's hundred
        # sub-agents each keep up to STATE_HISTORY of them.
        self._state_times = array.array("d", [self.clock.now()])
        self._state_codes = bytearray([_STATE_CODES[State.IDLE]])
        self._queue = ev.EventQueue()
        # Invariant: held events are re-queued, in order, on the next transition into IDLE.
        self._deferred: list[ev.Event] = []
        # Invariant: while this is True, exactly one GenerateNow is queued or deferred, or the
        # fold timer (``_fold_scope``) is waiting to queue it; while False, neither.
        self._generation_requested = False
        self._fold_scope: anyio.CancelScope | None = None
        self._listen_token = 0
        self._listen_scope: anyio.CancelScope | None = None
        # Clock time of the latest sign that the user is still talking; the listen timer counts
        # silence from here.
        self._user_active_at = float("-inf")
        self._subscribers: list[tuple[Subscriber, bool]] = []
        self._settle_waiter: anyio.Event | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._background: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._child_ids = itertools.count(1)
        self.ledger.subscribe(lambda entry: self._publish(EntryAdded(self, entry)))
        if len(self.ledger) == 0:
            self._record("system", instructions)
        elif self.ledger.own:
            self._carry_on()

    # --- public API ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The dialog state: idle, listening, generating or emitting."""
        return self._state

    @property
    def state_history(self) -> list[tuple[float, State]]:
        """``(clock time, state)`` for each state this agent entered since it was created, oldest
        first (the last ``STATE_HISTORY`` of them)."""
        first = max(len(self._state_codes) - STATE_HISTORY, 0)
        pairs = zip(self._state_times[first:], self._state_codes[first:], strict=True)
        return [(time, _STATES[code]) for time, code in pairs]

    @property
    def tools(self) -> Mapping[str, BaseTool]:
        """The tools the model may call now (an MCP server's once it has started)."""
        self._sync_mcp_tools()
        return dict(self.dispatcher.tools)

    async def start_mcp(self) -> list[str]:
        """Start the MCP servers that are not running (they otherwise start on first use);
        returns one line per server that could not start."""
        if self.status != "running":
            raise AgentError(f"agent {self.name!r} is {self.status}; MCP servers start with a running agent")
        faults = await self.mcp.start_all()
        self._sync_mcp_tools()
        return faults

    @property
    def tasks(self) -> list[BackgroundTask]:
        """The background tasks this agent started: every running one, and the most recent
        ended ones (up to ``dispatch.tasks.KEEP_ENDED_TASKS``; the ledger keeps them all)."""
        return list(self.runner.tasks.values())

    def task(self, task_id: str) -> BackgroundTask | None:
        """The task with that id, if it runs or ended recently (see :attr:`tasks`)."""
        return self.runner.get(task_id)

    def running_tasks(self) -> list[BackgroundTask]:
        """This agent's background tasks that are still running."""
        return self.runner.running()

    def set_output(self, output: OutputChannel) -> None:
        """Deliver answers through ``output`` from the next generation on."""
        self.output = output
        self.dispatcher.output = output

    def set_backend(self, backend: Backend) -> None:
        """Use ``backend`` from the next generation on; a running one finishes on the old."""
        self.backend = backend
        self.dispatcher.backend = backend

    def walk(self) -> Iterator[Agent]:
        """This agent and all its sub-agents, depth first."""
        return tree.walk(self)

    def find(self, name: str) -> Agent | None:
        """The first agent in :meth:`walk` order whose path or name is ``name``."""
        return tree.find(self, name)

    @property
    def root(self) -> Agent:
        """The main agent of this agent's tree."""
        return tree.root_of(self)

    def add_tool(self, fn: BaseTool | Callable[..., Any]) -> BaseTool:
        """Make a tool available from the next generation on (replaces one of the same name)."""
        t = as_tool(fn)
        self._user_tools = [u for u in self._user_tools if u.name != t.name] + [t]
        self.dispatcher.add_tool(t)
        return t

    async def send(
        self,
        text: str,
        *,
        interrupt: bool = False,
        source: ev.UserSource = "api",
        exchange: str | None = None,
    ) -> None:
        """Queue a user message and return at once.

        While the agent is generating or speaking, the message waits its turn; with
        ``interrupt=True`` it cuts the agent off first (as typing over it in the chat box does).
        ``exchange``: an id that the :class:`~ipyagent.agents.EventHandled` update of this message
        carries (in its ``UserMessage``), so a view can find where its exchange starts.
        """
        if not isinstance(text, str) or not text.strip():
            raise AgentError("send() needs a non-empty message string")
        self._ensure_running()
        if interrupt:
            self._queue.put(
                ev.Interrupt("the user sent a new message", source=_INTERRUPTED_BY.get(source, "chat"))
            )
        self._queue.put(ev.UserMessage(text, source, exchange))
        await anyio.lowlevel.checkpoint()

    def say(
        self,
        text: str,
        *,
        interruptible: bool = True,
        min_words: int | None = None,
        min_seconds: float | None = None,
    ) -> None:
        """Say ``text`` word for word as the agent's next answer (the model is not asked): once
        the agent is idle, never over the user. ``interruptible=False`` for an answer that must
        be heard (a confirmation, a warning): the user's voice does not cut it, and their words
        are answered after it. ``min_words`` / ``min_seconds`` set the barge-in thresholds for
        this answer only (see :class:`InterruptionPolicy`)."""
        if not isinstance(text, str) or not text.strip():
            raise AgentError("say() needs a non-empty text")
        self._answer_policy(interruptible, min_words, min_seconds)  # bad values fail here
        self._ensure_running()
        self._queue.put(ev.Say(text, interruptible, min_words, min_seconds))

    def _answer_policy(
        self, interruptible: bool, min_words: int | None, min_seconds: float | None
    ) -> InterruptionPolicy:
        base = self.interruption
        try:
            return InterruptionPolicy(
                interruptible,
                base.min_words if min_words is None else min_words,
                base.min_seconds if min_seconds is None else min_seconds,
                base.resume_after,
            )
        except ValueError as exc:
            raise AgentError(f"say(): {exc}") from None

    @property
    def answer_policy(self) -> InterruptionPolicy:
        """The interruption policy of the answer being generated or spoken now (the agent's own
        unless :meth:`say` set one for it)."""
        gen = self.dispatcher.current
        return gen.policy if gen is not None and gen.policy is not None else self.interruption

    def speculate(
        self,
        text: str,
        source: ev.UserSource = "voice",
        *,
        on_text: Callable[[str, bool], None] | None = None,
    ) -> bool:
        """Start the model on ``text`` as if the user had just sent it, before their turn is
        confirmed (a speaker's words at their first pause). Nothing is said, no tool starts and
        nothing is recorded: the answer is kept only if ``text`` then arrives as the user's turn
        with nothing else new in the ledger (the generation takes up the model's output from
        where it has got to); if the user goes on, :meth:`drop_speculation` (or any other
        turn) discards it and the turn is answered afresh. True if a speculation is running."""
        if not isinstance(text, str) or not text.strip() or self.status != "running" or self._tg is None:
            return False
        if (
            self._state not in (State.IDLE, State.LISTENING)
            or self._deferred  # held results would join the turn: the guess could not fit
            or len(self._queue)
            or self._generation_requested
            or self.dispatcher.current is not None
            or (self.turn_based and self.runner.running())
        ):
            self.dispatcher.discard_speculation()
            return False
        turn = Entry("user", text, time=self.clock.wall(), index=len(self.ledger), source=source)
        cache_point = self.ledger.fork_point - 1 if self.ledger.fork_point else None
        return self.dispatcher.speculate(self.ledger, turn, cache_point, on_text) is not None

    def drop_speculation(self) -> bool:
        """Discard the speculative generation, if one runs (the user went on speaking)."""
        return self.dispatcher.discard_speculation()

    def user_active(self) -> None:
        """The user is still talking (a voiced frame): the listen timer counts silence only."""
        self._user_active_at = self.clock.now()

    def note_interruption(self, text: str, status: Literal["false", "deferred"]) -> None:
        """Record an interruption that did not cut the answer off: ``"false"`` (a cough, an
        "uh", a door: the answer resumed) or ``"deferred"`` (the answer may not be cut; the
        user's words are answered after it). Models are not shown these markers."""
        gen = self.dispatcher.current
        self._record("interruption", text, status=status, generation=gen.id if gen is not None else None)

    def interrupt(self, reason: str = "interrupted by the user", source: ev.InterruptSource = "api") -> None:
        """Cut off whatever the agent is generating or saying, now. Tools keep running."""
        self._queue.put(ev.Interrupt(reason, source))

    def post(self, event: ev.Event) -> None:
        """Queue any event (for the audio bridge, widgets and tests)."""
        self._queue.put(event)

    def fork(self, task: str, name: str | None = None) -> Agent:
        """Start a sub-agent that shares this agent's ledger so far and works on ``task``.
        Its final answer reaches this agent as a notification."""
        return subagents.start_child(self, "fork", task, name)[0]

    def spawn(self, task: str, name: str | None = None) -> Agent:
        """Start a sub-agent with a fresh ledger holding only ``task``."""
        return subagents.start_child(self, "spawn", task, name)[0]

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Stop this agent and everything under it: generation, tools, sub-agents.

        What was in flight is recorded in the ledger. A cancelled sub-agent reports the
        cancellation to its parent; a cancelled agent accepts no more messages.
        """
        if self.status != "running":
            return
        for child in self.children.values():
            child.cancel("its parent was cancelled")
        self._wind_down(reason)
        self._set_status("cancelled", reason)
        if self._tg is not None:
            self._tg.cancel_scope.cancel(reason=reason)

    async def aclose(self) -> None:
        """Stop the agent; what was still running is recorded as stopped."""
        if self.status == "running":
            for child in self.children.values():
                child.cancel("the agent was closed")
            self._wind_down("the agent was closed")
            self._set_status("closed")
            if self._tg is not None:
                self._tg.cancel_scope.cancel(reason="the agent was closed")
        if self._background is not None:
            task, self._background = self._background, None
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(task, return_exceptions=True)
        if self.parent is None:  # sub-agents share their parent's backend
            with anyio.CancelScope(shield=True):
                await close_backend(self.backend)

    def subscribe(self, subscriber: Subscriber, *, children: bool = False) -> Callable[[], None]:
        """Call ``subscriber(update)`` for every ledger entry, state change, handled event,
        delivered text and task change; with ``children=True``, also for all sub-agents.
        Returns a function that unsubscribes. A failing subscriber is logged, never fatal."""
        item = (subscriber, children)
        self._subscribers.append(item)

        def unsubscribe() -> None:
            if item in self._subscribers:
                self._subscribers.remove(item)

        return unsubscribe

    def is_settled(self) -> bool:
        """Idle with nothing queued, held, generating or running (tools and sub-agents)."""
        return (
            self._state is State.IDLE
            and len(self._queue) == 0
            and not self._deferred
            and not self._generation_requested
            and self.dispatcher.current is None
            and not self.runner.running()
        )

    async def settled(self) -> None:
        """Wait until :meth:`is_settled` (or the agent stops)."""
        while not self.is_settled() and self.status in ("new", "running"):
            if self._settle_waiter is None:
                self._settle_waiter = anyio.Event()
            await self._settle_waiter.wait()

    def final_answer(self) -> tuple[str | None, str | None]:
        """``(answer, failure)``: the latest answer this agent gave in its own ledger, or why the
        latest generation failed."""
        for entry in reversed(self.ledger.own):
            if entry.kind == "assistant" and entry.text.strip():
                return entry.text, None
            if entry.kind == "notification" and entry.source == "model_error":
                return None, entry.text
        return None, None

    # --- running ------------------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._begin(tg)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        tg = self._tg
        await self.aclose()
        assert tg is not None
        error = exc_info[1] if len(exc_info) > 1 else None
        try:
            if isinstance(error, Exception):
                # The block raised: the agent is closed (its tasks cancelled) and the error comes
                # out as itself, not wrapped in the task group's ExceptionGroup.
                await tg.__aexit__(None, None, None)
                return False
            return await tg.__aexit__(*exc_info)
        finally:
            self._tg = None

    async def run(self) -> None:
        """Run until cancelled or closed."""
        async with anyio.create_task_group() as tg:
            self._begin(tg)
        self._tg = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The asyncio loop this agent runs on (None before it starts). Another thread hands
        the agent work through :mod:`ipyagent.bridge` (``call_soon``, ``submit``); an agent is
        not thread-safe, so every call into it belongs on this loop."""
        return self._event_loop

    def _begin(self, tg: anyio.abc.TaskGroup) -> None:
        if self.status == "running":
            raise AgentError(f"agent {self.name!r} is already running")
        if self.status not in ("new",):
            raise AgentError(
                f"agent {self.name!r} was {self.status}; start a new Agent (it can reuse the ledger)"
            )
        set_current_clock(self.clock)
        with contextlib.suppress(RuntimeError):  # not on asyncio (trio): no loop to hand out
            self._event_loop = asyncio.get_running_loop()
        self._tg = tg
        self.dispatcher.attach(tg)
        self.runner.attach(tg)
        self._set_status("running")
        if self.parent is None:
            tg.start_soon(self.mcp.run, name=f"mcp servers of {self.path}")
        tg.start_soon(self._loop, name=f"agent {self.path}")

    def _ensure_running(self) -> None:
        if self.status == "running" or self._background is not None:
            return
        if self.status != "new":
            raise AgentError(f"agent {self.name!r} was {self.status}; create a new Agent to continue")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise AgentError("send() must be awaited inside a running event loop") from None
        self._event_loop = loop
        self._background = loop.create_task(self.run(), name=f"ipyagent {self.path}")
        self._background.add_done_callback(self._log_crash)

    def _log_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("agent %s stopped with an error", self.path, exc_info=task.exception())

    async def _loop(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                self._handle(event)
            except Exception:  # a bug in an effect must not kill the agent; it is logged
                log.exception("agent %s failed handling %r", self.path, event)
            self._poke()

    # --- the runner: one event at a time ------------------------------------------------------

    def _is_stale(self, event: ev.Event) -> bool:
        if isinstance(event, ev.ModelOutput | ev.ModelFailed):
            gen = self.dispatcher.current
            return gen is None or gen.id != event.generation
        if isinstance(event, ev.ListenTimeout):
            return event.token != self._listen_token
        return False

    def _handle(self, event: ev.Event) -> None:
        state = self._state
        if self._is_stale(event):
            self._publish(EventHandled(self, event, state, None, self.clock.now()))
            return
        transition: Transition = step(state, event)
        if self.turn_based and isinstance(event, ev.UserMessage) and self.runner.running():
            transition = Transition(state, (Effect.DEFER,), "turn-based: wait for running tools")
        self._publish(EventHandled(self, event, state, transition, self.clock.now()))
        for effect in transition.effects:
            self._apply(effect, event)
        if transition.next is not state:
            self._state = transition.next
            self._state_times.append(self.clock.now())
            self._state_codes.append(_STATE_CODES[transition.next])
            if len(self._state_codes) > STATE_HISTORY + STATE_HISTORY // 10:  # trim now and then
                del self._state_times[:-STATE_HISTORY]
                del self._state_codes[:-STATE_HISTORY]
            self._publish(StateChanged(self, state, transition.next, self.clock.now()))

    def _apply(self, effect: Effect, event: ev.Event) -> None:
        match effect:
            case Effect.RECORD_USER:
                assert isinstance(event, ev.UserMessage)
                self._record("user", event.text, source=event.source)
                self.mcp.new_turn()
            case Effect.RECORD_NOTIFICATION:
                assert isinstance(event, ev.Notification)
                self._record(
                    "notification",
                    event.text,
                    source=event.kind,
                    task_id=event.task_id,
                    name=event.name,
                    finished=event.finished,
                )
            case Effect.REQUEST_GENERATION:
                self._request_generation(event)
            case Effect.START_GENERATION:
                self._generation_requested = False
                self._fold_scope = None
                cache_point = self.ledger.fork_point - 1 if self.ledger.fork_point else None
                self.dispatcher.start_generation(self.ledger, cache_point)
            case Effect.START_SAYING:
                assert isinstance(event, ev.Say)
                policy = self._answer_policy(event.interruptible, event.min_words, event.min_seconds)
                self.dispatcher.start_generation(self.ledger, None, say=event.text, policy=policy)
            case Effect.EMIT:
                assert isinstance(event, ev.TextDelta)
                self.dispatcher.emit(event)
            case Effect.LAUNCH_TOOL:
                assert isinstance(event, ev.ToolCallDecoded)
                self.dispatcher.start_call(event)
            case Effect.FINISH_GENERATION:
                assert isinstance(event, ev.GenerationFinished)
                self.dispatcher.finish_generation(event)
            case Effect.FINISH_EMISSION:
                gen = self.dispatcher.end_generation()
                if gen is not None:
                    self._record_generation(gen, "complete")
            case Effect.CUT_OUTPUT:
                reason = event.reason if isinstance(event, ev.Interrupt) else "the user started speaking"
                gen = self.dispatcher.cut(reason)
                if gen is not None:
                    self._record_generation(gen, "interrupted", reason)
            case Effect.RECORD_MODEL_FAILURE:
                assert isinstance(event, ev.ModelFailed)
                gen = self.dispatcher.cut("the model failed")
                if gen is not None and (gen.delivered or gen.launches):
                    # Calls decoded before the failure have started; they are recorded with it.
                    self._record_generation(gen, "incomplete")
                self._record("notification", event.text, source=event.kind, name=self.backend.name)
            case Effect.START_LISTEN_TIMER:
                self._start_listen_timer()
            case Effect.DEFER:
                self._deferred.append(event)
            case Effect.RELEASE_DEFERRED:
                held, self._deferred = self._deferred, []
                for e in held:
                    self._queue.put(e)
            case Effect.DROP:
                log.debug("agent %s dropped %r in %s", self.path, event, self._state)

    def _record(self, kind: Any, text: str = "", **fields: Any) -> Entry:
        return self.ledger.append(kind, text, time=self.clock.wall(), **fields)

    def _record_generation(self, gen: Generation, status: str, reason: str | None = None) -> None:
        """Write a generation to the ledger: the text the user received, then each tool call with
        its immediate result, then (if cut off) the interruption marker."""
        text = gen.text if status == "complete" else gen.delivered
        usage = asdict(gen.usage) if gen.usage is not None else None
        self._record("assistant", text, status=status, generation=gen.id, usage=usage)
        for launch in gen.launches:
            call = launch.call
            raw = call.arguments if isinstance(call.arguments, str) else ""
            arguments = None if isinstance(call.arguments, str) else dict(call.arguments)
            self._record(
                "tool_call", raw, name=call.name, call_id=call.call_id, arguments=arguments, generation=gen.id
            )
            self._record(
                "tool_result",
                launch.answer,
                name=call.name,
                call_id=call.call_id,
                task_id=launch.task.task_id if launch.task else None,
                status="started" if launch.task else "rejected",
            )
            if launch.error is not None:
                self._queue.put(
                    ev.ToolRejected(f"your call to {call.name} was rejected: {launch.error}", name=call.name)
                )
        if reason is not None:
            self._record("interruption", reason, generation=gen.id)

    def _request_generation(self, event: ev.Event) -> None:
        """Queue one GenerateNow, behind everything more urgent. A notification first waits
        until ``fold_window`` seconds after its work finished, so that results arriving close
        together are answered in one generation; a user turn never waits (and ends the wait),
        and neither does a result when no other task is running (nothing could join it)."""
        if (
            isinstance(event, ev.Notification)
            and self.fold_window > 0
            and self._tg is not None
            and self.runner.running()
        ):
            finished = event.finished if event.finished is not None else self.clock.wall()
            wait = self.fold_window - (self.clock.wall() - finished)
            if wait > 0:
                if not self._generation_requested:
                    self._generation_requested = True
                    self._start_fold_timer(wait)
                return
        if self._fold_scope is not None:  # answer now, with everything that has arrived
            self._fold_scope.cancel(reason="a generation is wanted now")
            self._fold_scope = None
            self._queue.put(ev.GenerateNow())
        elif not self._generation_requested:
            self._generation_requested = True
            self._queue.put(ev.GenerateNow())

    def _start_fold_timer(self, wait: float) -> None:
        scope = self._fold_scope = anyio.CancelScope()

        async def fold() -> None:
            with scope:
                await self.clock.sleep(wait)
                self._fold_scope = None
                self._queue.put(ev.GenerateNow())

        assert self._tg is not None
        self._tg.start_soon(fold, name="fold window")

    def _start_listen_timer(self) -> None:
        self._listen_token += 1
        token = self._listen_token
        if self._listen_scope is not None:
            self._listen_scope.cancel(reason="listen timer restarted")
        scope = self._listen_scope = anyio.CancelScope()

        started = self.clock.now()

        async def timer() -> None:
            with scope:
                # Silence, not onset: each sign of the user talking pushes the deadline back.
                while (due := max(started, self._user_active_at) + self.listen_timeout) > self.clock.now():
                    await self.clock.sleep(due - self.clock.now())
                self._queue.put(ev.ListenTimeout(token))

        assert self._tg is not None
        self._tg.start_soon(timer, name="listen timer")

    def _wind_down(self, reason: str) -> None:
        """Record what is being stopped: output in flight, and each running tool or timer."""
        if self._listen_scope is not None:
            self._listen_scope.cancel(reason=reason)
        if self._fold_scope is not None:
            self._fold_scope.cancel(reason=reason)
        self.dispatcher.discard_speculation()
        gen = self.dispatcher.cut(reason)
        if gen is not None:
            self._record_generation(gen, "interrupted", reason)
        for task in self.runner.running():
            if task.kind != "subagent" and task.cancel(reason):
                self.runner.mark_stopped(task)
                self._record(
                    "notification",
                    f"cancelled ({reason})",
                    source="tool_cancelled",
                    task_id=task.task_id,
                    name=task.name,
                )

    def _carry_on(self) -> None:
        """Take over a ledger with a history (a resumed session, or a new agent after a cancelled
        one): ids continue after the ones in it, and each task it shows running is recorded as
        ended, for the agent that ran it is gone and its result will never come."""
        own = self.ledger.own
        self.dispatcher.continue_after(own)
        self.runner.continue_after(e.task_id for e in own if e.task_id)
        running: dict[str, Entry] = {}
        for entry in own:
            if entry.task_id is None:
                continue
            if entry.kind == "notification" and entry.source != "tool_progress":
                running.pop(entry.task_id, None)
            elif entry.kind == "subagent" or (entry.kind == "tool_result" and entry.status == "started"):
                running[entry.task_id] = entry
        for task_id, entry in running.items():
            self._record(
                "notification",
                "did not finish: the agent running it stopped (a kernel restart, a crash or a "
                "cancel); it is not running now",
                source="tool_cancelled",
                task_id=task_id,
                name=entry.name,
            )

    # --- sub-agents (their lifecycle is in subagents.py) ---------------------------------------

    def start_child(
        self, how: SubAgentHow, task: str, name: str | None = None, *, call_id: str | None = None
    ) -> tuple[Agent, BackgroundTask]:
        """Create and start a sub-agent (``how`` is ``"fork"`` or ``"spawn"``) as a background
        task of this agent; its answer reaches this agent as a notification."""
        return subagents.start_child(self, how, task, name, call_id=call_id)

    def _builtin_tools(self) -> list[BaseTool]:
        def start_child(how: SubAgentHow, task: str, name: str, call_id: str | None) -> BackgroundTask:
            return subagents.start_child(self, how, task, name, call_id=call_id)[1]

        return builtin_tools(
            clock=self.clock,
            runner=self.runner,
            start_child=start_child,
            cancel_child=functools.partial(subagents.cancel_child, self),
        )

    # --- MCP servers --------------------------------------------------------------------------

    async def _prepare_tools(self) -> bool:
        """Before a generation: start MCP servers on first use, so their tools are offered.
        True when the tools offered changed."""
        if any(s.state != "ready" for s in self.mcp.servers.values()):
            self._publish(ModelStatus(self, "starting MCP servers…"))
            await self.start_mcp()
            self._publish(ModelStatus(self, ""))
            return True
        return self._sync_mcp_tools()

    def _sync_mcp_tools(self) -> bool:
        """Offer the MCP servers' tools beside the agent's own; True when that changed anything."""
        from ..mcp import McpTool

        tools = self.dispatcher.tools
        if not self.mcp.servers and not any(isinstance(t, McpTool) for t in tools.values()):
            return False  # the common case, checked before every generation: nothing to sync
        own = [n for n, t in tools.items() if not isinstance(t, McpTool)]
        offered = self.mcp.tools(taken=own)
        stale = [n for n, t in tools.items() if isinstance(t, McpTool) and offered.get(n) is not t]
        for name in stale:
            del tools[name]
        added = {n: t for n, t in offered.items() if tools.get(n) is not t}
        tools.update(added)
        return bool(stale or added)

    def _mcp_fault(self, server: str, text: str) -> None:
        self._post(ev.ToolError(text, name=f"mcp:{server}"))

    # --- plumbing -----------------------------------------------------------------------------

    def _post(self, event: ev.Event) -> None:
        self._queue.put(event)

    def _task_changed(self, task: BackgroundTask) -> None:
        self._publish(TaskChanged(self, task))
        self._poke()

    def _set_status(self, status: AgentStatus, failure: str | None = None) -> None:
        self.status = status
        if failure is not None:
            self.failure = failure
        self._publish(AgentStatusChanged(self))
        self._poke()

    def _poke(self) -> None:
        waiter, self._settle_waiter = self._settle_waiter, None
        if waiter is not None:
            waiter.set()

    def _publish(self, update: Update, *, from_child: bool = False) -> None:
        for subscriber, with_children in list(self._subscribers):
            if from_child and not with_children:
                continue
            try:
                subscriber(update)
            except Exception:
                log.exception("subscriber %r of agent %s failed", subscriber, self.path)
        if self.parent is not None:
            self.parent._publish(update, from_child=True)

    def __repr__(self) -> str:
        return f"<Agent {self.path!r} {self.status} {self._state}: {len(self.ledger)} entries>"
