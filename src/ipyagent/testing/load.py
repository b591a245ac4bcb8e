"""A load generator: a model that keeps a tree of sub-agents busy with tools and timers, and a
checker that the ledgers hold every notification exactly once, in order per source.

The load is produced the way real work produces it: the main agent's model forks and spawns the
sub-agents with tool calls; each sub-agent's model keeps two *sources* going — a ``probe`` tool
and a ``set_timer`` timer — whose results come back as notifications, answers them, and ends
with a report that reaches its parent as a notification. Calls are started ahead of their due
times, each source's calls due ``period`` seconds apart, so the whole tree produces
``per_minute`` notifications a minute on the agents' clock. Optionally the main agent also
starts ``burst`` tools at once (concurrent tools).

    plan = LoadPlan(subagents=100, per_minute=10_000, minutes=10)
    model = LoadModel(plan)
    async with Agent(model, tools=LOAD_TOOLS, clock=clock) as agent:
        await agent.send(START)
        await agent.settled()
    print(check_load(agent, plan))
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..clock import Clock, current_clock
from ..dispatch.backends.base import Chunk, TextChunk, ToolCallChunk, UsageChunk
from ..dispatch.tools import tool
from ..events import ToolCallRequest, Usage
from ..ledger.render.context import Context

if TYPE_CHECKING:
    from ..agents import Agent

START = "Start the load."
SOURCES = ("probe", "timer")
_PROBE = re.compile(r"^(?P<source>\S+) #(?P<seq>\d+)$")
_TIMER = re.compile(r"^timer '(?P<source>\S+) #(?P<seq>\d+)' went off")


@dataclass(frozen=True)
class LoadPlan:
    """How much load, for how long (seconds are the agents' clock)."""

    subagents: int = 100
    per_minute: int = 10_000
    minutes: float = 10.0
    think: float = 0.5  # how long each generation takes
    horizon: float = 15.0  # how far ahead of their due times calls are started
    burst: int = 0  # tools the main agent starts at once, besides the sub-agents
    burst_seconds: float = 1.0  # each burst tool runs this long or up to twice as long

    @property
    def sources(self) -> int:
        return self.subagents * len(SOURCES)

    @property
    def period(self) -> float:
        """Seconds between two notifications of one source."""
        return 60.0 * self.sources / self.per_minute if self.sources else 0.0

    @property
    def per_source(self) -> int:
        return int(self.per_minute * self.minutes / self.sources) if self.sources else 0

    def due(self, source_index: int, seq: int) -> float:
        """When notification ``seq`` of a source is due, in seconds after the load started.
        Sources are staggered over one period, so arrivals are spread evenly."""
        return self.horizon_lead + (source_index / self.sources + seq) * self.period

    @property
    def horizon_lead(self) -> float:
        # The first calls are due after the sub-agents have started and made their first call.
        return 4 * self.think + 1.0

    @property
    def expected(self) -> int:
        """Notifications the whole load produces: the sources', the burst's, one report per sub-agent."""
        return self.sources * self.per_source + self.burst + self.subagents


def subagent_name(i: int) -> str:
    return f"w{i:03d}"


@tool
async def probe(source: str, seq: int, due: float) -> str:
    "Wait until the clock reads `due`, then report `source #seq`."
    clock = current_clock()
    await clock.sleep(due - clock.now())
    return f"{source} #{seq}"


@tool
async def work(n: int, seconds: float) -> str:
    "Work for `seconds`, then report `main.burst #n`."
    await current_clock().sleep(seconds)
    return f"main.burst #{n}"


LOAD_TOOLS = (probe, work)


@dataclass
class _AgentPlan:
    index: int
    launched: int = 0  # calls started per source (the same for both)


@dataclass
class LoadModel:
    """A model for load tests: never reads text, only the schedule, the agent's name and the
    tasks still pending. Shared by the main agent and all its sub-agents."""

    plan: LoadPlan
    clock: Clock | None = None
    name: str = "load"
    started: float | None = None  # the clock's time when the main agent's first generation ended
    generations: int = 0
    _agents: dict[str, _AgentPlan] = field(default_factory=dict)
    _main_turns: int = 0

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        clock = self.clock or current_clock()
        began = clock.now()
        self.generations += 1
        await clock.sleep(self.plan.think / 2)
        yield TextChunk("working ")
        await clock.sleep(self.plan.think / 2)
        now = clock.now()
        if agent == "main":
            text, calls = self._main(context, now)
        else:
            text, calls = self._subagent(agent, context, now)
        yield TextChunk(text)
        for call in calls:
            yield ToolCallChunk(call)
        yield UsageChunk(Usage(input_tokens=len(context.entries), output_tokens=2, total_seconds=now - began))

    def _main(self, context: Context, now: float) -> tuple[str, list[ToolCallRequest]]:
        self._main_turns += 1
        if self._main_turns > 1:
            return ("all reports are in" if not context.pending else "noted"), []
        self.started = now
        calls = []
        for i in range(self.plan.subagents):
            name = subagent_name(i)
            self._agents[name] = _AgentPlan(i)
            how = "fork" if i % 2 else "spawn"
            calls.append(ToolCallRequest(how, {"name": name, "task": f"keep {name}'s sources going"}))
        for n in range(self.plan.burst):
            # From when each starts: however long starting them all takes, they overlap.
            seconds = self.plan.burst_seconds * (1 + n / self.plan.burst)
            calls.append(ToolCallRequest("work", {"n": n, "seconds": seconds}))
        return f"starting {self.plan.subagents} sub-agents and {self.plan.burst} tools", calls

    def _subagent(self, agent: str, context: Context, now: float) -> tuple[str, list[ToolCallRequest]]:
        state = self._agents.get(agent)
        if state is None or self.started is None:
            return "I am not part of the load", []
        calls = []
        plan = self.plan
        while state.launched < plan.per_source:
            seq = state.launched
            probe_due = self.started + plan.due(2 * state.index, seq)
            timer_due = self.started + plan.due(2 * state.index + 1, seq)
            if probe_due > now + plan.horizon:
                break
            calls.append(ToolCallRequest("probe", {"source": f"{agent}.probe", "seq": seq, "due": probe_due}))
            calls.append(
                ToolCallRequest(
                    "set_timer", {"seconds": max(0.0, timer_due - now), "label": f"{agent}.timer #{seq}"}
                )
            )
            state.launched += 1
        if calls:
            return f"started {len(calls)} calls", calls
        if state.launched >= plan.per_source and not context.pending:
            return f"{agent} done: {2 * plan.per_source} notifications", []
        return "noted", []


@dataclass(frozen=True)
class LoadCheck:
    """What the ledgers hold after a load run."""

    notifications: int
    expected: int
    sources: int
    duplicates: list[str]
    missing: list[str]
    out_of_order: list[str]
    reports: int
    other: list[str]  # notifications that are none of the above (errors, timeouts...)
    per_minute: dict[int, int]  # notifications by minute of the clock since the load started

    @property
    def ok(self) -> bool:
        return (
            self.notifications == self.expected
            and not self.duplicates
            and not self.missing
            and not self.out_of_order
            and not self.other
        )


def check_load(agent: Agent, model: LoadModel, *, timer_order: bool = True) -> LoadCheck:
    """Read every agent's own ledger entries: each source's notifications must be 0, 1, 2, ...
    exactly once; one report per sub-agent; the burst's results exactly once each.

    A timer is set for a number of seconds from when it starts, and on the real clock an agent
    under load starts a call a little after its model asked for it, so two timers of one source
    set by different generations may swap; ``timer_order=False`` does not count that (probes
    wait for an absolute time and must stay in order on any clock)."""
    plan = model.plan
    started_wall = None
    if model.started is not None:
        started_wall = agent.clock.wall() - agent.clock.now() + model.started
    seqs: dict[str, list[int]] = defaultdict(list)
    other: list[str] = []
    reports: dict[str, int] = defaultdict(int)
    minutes: dict[int, int] = defaultdict(int)
    count = 0
    for a in agent.walk():
        for e in a.ledger.own:
            if e.kind != "notification":
                continue
            count += 1
            if started_wall is not None:
                minutes[int((e.time - started_wall) // 60)] += 1
            match = _PROBE.match(e.text) if e.source == "tool_result" else None
            match = match or (_TIMER.match(e.text) if e.source == "timer" else None)
            if match:
                seqs[match["source"]].append(int(match["seq"]))
            elif e.source == "subagent_report" and e.name:
                reports[e.name] += 1
            else:
                other.append(f"{a.path}: {e.source}: {e.text[:100]}")
    duplicates, missing, out_of_order = [], [], []
    wanted: dict[str, int] = {}
    for i in range(plan.subagents):
        for kind in SOURCES:
            wanted[f"{subagent_name(i)}.{kind}"] = plan.per_source
    if plan.burst:
        wanted["main.burst"] = plan.burst
    for source, n in wanted.items():
        got = seqs.get(source, [])
        if len(set(got)) != len(got):
            duplicates.append(source)
        if set(got) != set(range(n)):
            missing.append(f"{source}: {n - len(set(got) & set(range(n)))} of {n}")
        elif got != sorted(got) and source != "main.burst" and (timer_order or "timer" not in source):
            out_of_order.append(source)
    duplicates += [f"report of {name} x{n}" for name, n in reports.items() if n != 1]
    missing += [
        f"report of {subagent_name(i)}" for i in range(plan.subagents) if subagent_name(i) not in reports
    ]
    other += [f"unexpected source {s}" for s in seqs if s not in wanted]
    return LoadCheck(
        notifications=count,
        expected=plan.expected,
        sources=len(wanted),
        duplicates=duplicates,
        missing=missing,
        out_of_order=out_of_order,
        reports=sum(reports.values()),
        other=other,
        per_minute=dict(sorted(minutes.items())),
    )


def all_agents(agent: Agent) -> list[Agent]:
    """The agent and all its sub-agents, depth first."""
    return list(agent.walk())


def peak_concurrency(agents: Iterable[Agent]) -> int:
    """The most tools and timers that ran at the same moment. Read from each agent's own ledger
    entries (a task starts at its "started" result and ends at its last notification), since an
    agent keeps only its newest ended task records."""
    edges: list[tuple[float, int]] = []
    for a in agents:
        started: dict[str, float] = {}
        ended: dict[str, float] = {}
        subagents: set[str] = set()
        for e in a.ledger.own:
            if e.task_id is None:
                continue
            if e.kind == "tool_result" and e.status == "started":
                started.setdefault(e.task_id, e.time)
            elif e.kind == "notification":
                ended[e.task_id] = e.time
                if (e.source or "").startswith("subagent"):
                    subagents.add(e.task_id)
        for task in a.tasks:
            if task.kind == "subagent":
                subagents.add(task.task_id)
            if task.running:
                ended.pop(task.task_id, None)  # progress so far, not the end
        for task_id, t0 in started.items():
            if task_id not in subagents:
                edges.append((t0, 1))
                edges.append((ended.get(task_id, float("inf")), -1))
    peak = running = 0
    for _, step in sorted(edges):
        running += step
        peak = max(peak, running)
    return peak
