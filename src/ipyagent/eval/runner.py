"""Running one scenario against a model, on a virtual clock.

Time, and why runs repeat
-------------------------
Simulated tools, timers, the user's scheduled steps and the agent's speech all run on a
:class:`~ipyagent.testing.VirtualClock`, which jumps to the next deadline the moment every task is
waiting. A real model, though, generates in a worker thread: while it thinks, the event loop is
idle, so the clock would jump ahead and let a 60-second tool finish "during" a 2-second
generation — or not, depending on how fast the machine is that day. The order of events would
depend on real speed and the scores would not repeat.

So a real model's generation is *held* (:class:`HeldBackend`): virtual time stands still from the
moment a generation starts until its last chunk, and the model's thinking takes zero virtual time.
What the user hears then takes virtual time: answers are delivered at a speaking pace
(:class:`~ipyagent.dispatch.output.PacedOutput`), which is what lets a user interrupt an answer
halfway through, deterministically. Given the same model outputs, a run is the same sequence of
events every time; real model latency is still measured (on the real clock) and reported in
time-to-first-answer. The scripted reference model is not held: its turns' ``delay`` is virtual
thinking time by design.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..agents import Agent
from ..agents.agent import DEFAULT_INSTRUCTIONS
from ..agents.updates import EntryAdded, StateChanged, TextDelivered, Update
from ..clock import Clock, RealClock
from ..dispatch.backends import Backend, ScriptedBackend, resolve
from ..dispatch.backends.base import Chunk
from ..dispatch.output import PacedOutput
from ..dispatch.tools import Tool
from ..errors import IpyagentError
from ..fsm import State
from ..ledger import Entry
from ..ledger.render.context import Context, ToolSpec
from ..testing import VirtualClock, wait_for
from .scenario import Scenario, SimTool, Step

# A backend for one scenario on its clock.
BackendFactory = Callable[[Scenario, Clock], Backend]

WORDS_PER_SECOND = 3.0  # speaking pace of answers, in virtual time
MAX_GENERATIONS = 16  # per scenario, across the agent and its sub-agents: a runaway model stops here
REAL_LIMIT = 300.0  # real seconds per scenario


class HeldBackend:
    """Wraps a backend whose generations take real time so that virtual time stands still while it
    generates (see the module docstring). The hold is released when the stream ends, fails or is
    cancelled."""

    def __init__(self, inner: Backend, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock
        self.name = inner.name

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        with self.clock.holding():
            stream = self.inner.stream(context, agent=agent)
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()


def reference_model(scenario: Scenario, clock: Clock) -> Backend:
    """The scenario's reference script: what a perfect model does."""
    if scenario.reference is None:
        raise IpyagentError(f"{scenario.path}: scenario {scenario.id!r} has no reference script")
    return ScriptedBackend(scenario.reference, clock, f"{scenario.key} reference")


def model_factory(spec: str) -> BackendFactory:
    """A backend factory for a model string. ``reference`` uses each scenario's own script; any
    other string is resolved once (the local model loads once) and held on each scenario's clock."""
    if spec == "reference":
        return reference_model
    if spec.startswith("scripted:"):
        raise IpyagentError(
            "a scripted model replays one fixed script and cannot follow a suite; "
            "use '--model reference' for each scenario's reference script"
        )
    # Timing figures of a real model (first token, total) are taken on the real clock.
    backend = resolve(spec, RealClock())

    def factory(scenario: Scenario, clock: Clock) -> Backend:
        return HeldBackend(backend, clock)

    return factory


def simulated_tool(sim: SimTool, clock: Clock) -> Tool:
    """A tool that waits ``latency`` seconds of the virtual clock, then answers or fails."""

    async def run(**arguments: Any) -> str:
        await clock.sleep(sim.latency)
        if sim.error is not None:
            raise RuntimeError(sim.error)
        return sim.answer(arguments)

    return Tool(run, sim.name, sim.description, sim.parameters, sim.timeout)


@dataclass(frozen=True)
class TaskRecord:
    """A background task of the main agent, as it stood when the run ended (virtual seconds)."""

    task_id: str
    name: str
    kind: str
    arguments: Mapping[str, Any]
    started: float
    finished: float | None
    status: str


@dataclass(frozen=True)
class StepRecord:
    step: Step
    time: float | None  # virtual seconds when it happened; None if its trigger never held
    ledger_position: int  # main-ledger length when it happened


@dataclass(frozen=True)
class RunRecord:
    """Everything a finished run leaves for scoring and reports."""

    scenario: Scenario
    model: str
    entries: tuple[Entry, ...]  # the main agent's ledger
    sub_ledgers: Mapping[str, tuple[Entry, ...]]  # each sub-agent's own entries, by path
    tasks: tuple[TaskRecord, ...]
    steps: tuple[StepRecord, ...]
    generation_starts: tuple[float, ...]  # virtual seconds; the main agent's generation n is [n-1]
    tool_specs: tuple[ToolSpec, ...]  # the tools the model was offered
    epoch: float
    end: str  # "settled", "time limit", "real time limit", "runaway"
    virtual_seconds: float
    real_seconds: float
    error: str | None = None


@dataclass
class _Recorder:
    """Follows a run through the agent's updates; everything here is read by step triggers."""

    main: Agent
    clock: Clock
    on_runaway: Callable[[], None]
    max_generations: int
    words: int = 0
    word_generation: int = -1
    answers: int = 0
    generations: int = 0
    generation_starts: list[float] = field(default_factory=list)

    def __call__(self, update: Update) -> None:
        if isinstance(update, TextDelivered) and update.agent is self.main:
            if update.generation != self.word_generation:
                self.word_generation, self.words = update.generation, 0
            self.words += len(update.text.split())
        elif isinstance(update, StateChanged) and update.new is State.GENERATING:
            if update.agent is self.main:
                self.generation_starts.append(self.clock.now())
            self.generations += 1
            if self.generations > self.max_generations:
                self.on_runaway()
        elif (
            isinstance(update, EntryAdded)
            and update.agent is self.main
            and update.entry.kind == "assistant"
            and update.entry.status == "complete"
        ):
            self.answers += 1


def _notified(entry: Entry, name: str) -> bool:
    """Whether a ledger entry is the notification that ``name`` (a tool, 'timer', 'subagent') refers to."""
    if entry.kind != "notification" or entry.source == "tool_rejected":
        return False  # a rejected call never ran: its rejection is not the tool's notification
    if name == "subagent":
        return entry.source == "subagent_report"
    if name == "timer":
        return entry.source == "timer" or entry.name == "sleep"
    return entry.name == name


async def _trigger(step: Step, agent: Agent, rec: _Recorder, clock: Clock) -> None:
    """Wait until the step's trigger holds (armed now)."""
    if step.at is not None:
        await clock.sleep(step.at - clock.now())
    elif step.after == "reply":
        answers = rec.answers
        await wait_for(agent, lambda: rec.answers > answers and agent.state is State.IDLE)
    elif step.after == "settled":
        await agent.settled()
    elif step.after != "start":
        head, _, name = step.after.partition(":")
        start = len(agent.ledger)
        if head == "call":

            def started() -> bool:
                return any(
                    e.kind == "tool_result" and e.name == name and e.status == "started"
                    for e in list(agent.ledger)[start:]
                )

            await wait_for(agent, started)
        else:
            await wait_for(agent, lambda: any(_notified(e, name) for e in list(agent.ledger)[start:]))
    if step.after_words is not None:
        armed_generation, armed_words = rec.word_generation, rec.words

        def said_enough() -> bool:
            heard = rec.words - (armed_words if rec.word_generation == armed_generation else 0)
            return heard >= (step.after_words or 0)

        await wait_for(agent, said_enough)
    if step.delay:
        await clock.sleep(step.delay)


def _sub_ledgers(agent: Agent) -> dict[str, tuple[Entry, ...]]:
    return {a.path: tuple(a.ledger.own) for a in agent.walk() if a is not agent}


async def run_scenario(
    scenario: Scenario,
    factory: BackendFactory,
    *,
    model: str = "",
    words_per_second: float = WORDS_PER_SECOND,
    max_generations: int = MAX_GENERATIONS,
    real_limit: float = REAL_LIMIT,
) -> RunRecord:
    """Play the scenario's steps against a model and record what happened."""
    started_real = time.monotonic()
    async with VirtualClock() as clock:
        backend = factory(scenario, clock)
        tools = [simulated_tool(t, clock) for t in scenario.tools]
        agent = Agent(
            backend,
            tools=tools,
            clock=clock,
            output=PacedOutput(clock, words_per_second),
            instructions=scenario.instructions or DEFAULT_INSTRUCTIONS,
        )
        end = "settled"
        steps: list[StepRecord] = []
        error: str | None = None
        run_scope = anyio.CancelScope()

        def runaway() -> None:
            nonlocal end
            if end == "settled":
                end = "runaway"
            run_scope.cancel(reason="runaway model")

        rec = _Recorder(agent, clock, runaway, max_generations)
        async with agent:
            agent.subscribe(rec, children=True)
            with run_scope, anyio.move_on_after(real_limit) as real_scope:
                async with anyio.create_task_group() as tg:

                    async def watchdog() -> None:
                        nonlocal end
                        await clock.sleep(scenario.limit)
                        if end == "settled":
                            end = "time limit"
                        tg.cancel_scope.cancel(reason="virtual time limit")

                    tg.start_soon(watchdog)
                    for step in scenario.steps:
                        # Recorded as missed until it happens; replaced below when it does.
                        steps.append(StepRecord(step, None, len(agent.ledger)))
                        await _trigger(step, agent, rec, clock)
                        steps[-1] = StepRecord(step, clock.now(), len(agent.ledger))
                        try:
                            if step.user is not None:
                                await agent.send(step.user, interrupt=step.interrupt)
                            else:
                                agent.interrupt("the user interrupted")
                        except IpyagentError as exc:
                            error = str(exc)
                            break
                    await agent.settled()
                    tg.cancel_scope.cancel(reason="settled")
            for step in scenario.steps[len(steps) :]:
                steps.append(StepRecord(step, None, len(agent.ledger)))
            if real_scope.cancelled_caught and end == "settled":
                end = "real time limit"
            # Taken before closing: closing records the wind-down of what still runs.
            entries = tuple(agent.ledger)
            subs = _sub_ledgers(agent)
            now = clock.now()
            specs = tuple(t.spec for t in agent.tools.values())
            tasks = tuple(
                TaskRecord(t.task_id, t.name, t.kind, dict(t.arguments), t.started, t.finished, t.status)
                for t in agent.tasks
            )
        return RunRecord(
            scenario=scenario,
            model=model or backend.name,
            entries=entries,
            sub_ledgers=subs,
            tasks=tasks,
            steps=tuple(steps),
            generation_starts=tuple(rec.generation_starts),
            tool_specs=specs,
            epoch=clock.epoch,
            end=end,
            virtual_seconds=now,
            real_seconds=time.monotonic() - started_real,
            error=error,
        )
