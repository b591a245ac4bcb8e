"""Load: a hundred sub-agents and ten thousand notifications a minute on virtual time, and a
thousand concurrent tools on the real clock. Every notification lands in a ledger exactly once,
in order per source; the state machines end idle with nothing queued; memory per ledger entry
stays flat and nothing but the history grows; no task or subscription is left behind.

The full ten virtual minutes run in ``bench/load.py`` (about 20 s of CPU a virtual minute), with
the kernel's reply latency under load; to keep CI short this test runs the same load (100
sub-agents, 10,000 notifications a minute) for 40 virtual seconds and compares the memory each ledger
entry costs in two ten-second windows of steady load.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from dataclasses import dataclass

import anyio
import pytest

from ipyagent import Agent, RealClock, State
from ipyagent.agents.updates import StateChanged, Update
from ipyagent.testing import VirtualClock, wait_for
from ipyagent.testing.load import (
    LOAD_TOOLS,
    START,
    LoadModel,
    LoadPlan,
    all_agents,
    check_load,
    peak_concurrency,
)

SECONDS = 40  # virtual
SAMPLE_EVERY = 10
# Calls start 5 s ahead of their due time, so from ~8 s to ~35 s the calls in flight are steady
# and what memory gains is the history; the windows 10-20 s and 20-30 s are compared.
HORIZON = 5.0


@dataclass
class Sample:
    at: float  # virtual seconds
    memory: int  # bytes traced after a full collection
    entries: int  # ledger entries of all agents
    tasks: int  # asyncio tasks alive


def history(agent: Agent) -> int:
    return sum(len(a.ledger.own) for a in all_agents(agent))


class StateWatch:
    """Counts state changes per agent and any that does not start where the last one ended."""

    def __init__(self, agent: Agent) -> None:
        self.last: dict[str, State] = {}
        self.changes = 0
        self.broken: list[str] = []
        self.unsubscribe = agent.subscribe(self, children=True)

    def __call__(self, update: Update) -> None:
        if isinstance(update, StateChanged):
            path = update.agent.path
            was = self.last.get(path, State.IDLE)
            if update.old is not was or update.new is update.old:
                self.broken.append(f"{path}: {update.old} -> {update.new} after {was}")
            self.last[path] = update.new
            self.changes += 1


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_hundred_subagents_ten_thousand_notifications_a_minute_on_virtual_time() -> None:
    plan = LoadPlan(subagents=100, per_minute=10_000, minutes=SECONDS / 60, horizon=HORIZON)
    gc.collect()
    tracemalloc.start()
    try:
        async with VirtualClock() as clock:
            model = LoadModel(plan)
            async with Agent(model, tools=LOAD_TOOLS, clock=clock) as agent:
                watch = StateWatch(agent)
                baseline_tasks = len(asyncio.all_tasks())
                gc.collect()
                baseline = tracemalloc.get_traced_memory()[0]
                samples: list[Sample] = []

                async def sample() -> None:
                    while clock.now() < SECONDS:
                        await clock.sleep(SAMPLE_EVERY)
                        gc.collect()
                        memory = tracemalloc.get_traced_memory()[0]
                        samples.append(Sample(clock.now(), memory, history(agent), len(asyncio.all_tasks())))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(sample)
                    await agent.send(START)
                    await agent.settled()
                    tg.cancel_scope.cancel()
                ended = clock.now()

                # Every notification exactly once, in order per source; the load really ran.
                result = check_load(agent, model)
                assert result.ok, result
                assert result.notifications == plan.expected >= SECONDS / 60 * 10_000
                assert ended >= SECONDS
                sampled = sum(1 for s in samples if s.at <= SECONDS)
                assert sampled == SECONDS // SAMPLE_EVERY
                # 10,000 a minute: the first minute holds them all (the load starts a few seconds in).
                assert result.per_minute[0] >= 0.95 * SECONDS / 60 * 10_000, result.per_minute
                assert len(agent.children) == 100
                assert {c.status for c in agent.children.values()} == {"done"}

                # The state machines stayed sane and ended idle with nothing queued or held.
                agents = all_agents(agent)
                assert watch.broken == []
                assert watch.changes > result.notifications / 2
                for a in agents:
                    assert a.state is State.IDLE, a
                    assert len(a._queue) == 0 and not a._deferred and not a._generation_requested
                    assert a.dispatcher.current is None and not a.runner.running()
                    assert a.runner.idle and not a.dispatcher.internal
                    statuses = {e.status for e in a.ledger.own if e.kind == "assistant"}
                    assert statuses == {"complete"}, (a, statuses)
                assert (
                    sum(1 for a in agents for e in a.ledger.own if e.kind == "assistant") == model.generations
                )

                # Nothing left behind: tasks, subscriptions, sleepers.
                watch.unsubscribe()
                assert len(asyncio.all_tasks()) == baseline_tasks
                assert agent._subscribers == []
                for a in agents:
                    assert len(a.ledger._subscribers) == 1  # its agent's
                    assert a.parent is None or a._subscribers == []
                assert not [s for s in clock._sleepers if not s[2].gone]

                # Memory: under steady load a ledger entry costs the same later as earlier, and
                # little: the entry and its share of the task records (about 500 bytes; 850 when
                # an ended task still kept its cancel scope and asyncio task).
                at = {round(s.at): s for s in samples}
                per_entry = [
                    (at[b].memory - at[a].memory) / (at[b].entries - at[a].entries)
                    for a, b in ((10, 20), (20, 30))
                ]
                first, last = per_entry
                assert 0 < first < 750 and last < 1.25 * first, per_entry
                # Tasks alive are the calls in flight (each source runs ``horizon`` ahead), not history.
                in_flight = plan.sources * (plan.horizon / plan.period + 2) + 3 * plan.subagents
                assert max(s.tasks for s in samples) < in_flight + baseline_tasks

                # Nothing but the history grows: drop the ledgers and task records, and what is
                # left is what a hundred idle agents hold, whatever the length of the run.
                total = history(agent)
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - baseline
                for a in agents:
                    a.ledger._own.clear()
                    a.runner.tasks.clear()
                    a.dispatcher._call_ids.clear()
                gc.collect()
                left = tracemalloc.get_traced_memory()[0] - baseline
                print(
                    f"\n{result.notifications} notifications, {total} entries, {clock.now():.0f} virtual s; "
                    f"memory grew {grown / 1e6:.1f} MB; {first:.0f} B/entry in 10-20 s, "
                    f"{last:.0f} in 20-30 s; "
                    f"{left / 1e6:.2f} MB without history"
                )
                assert left < 101 * 30_000  # what 101 idle agents hold: 30 KB each
    finally:
        tracemalloc.stop()


@pytest.mark.timeout(120)
async def test_a_thousand_concurrent_tools_on_the_real_clock_and_an_interruption_meanwhile() -> None:
    plan = LoadPlan(subagents=0, burst=1000, burst_seconds=5.0, think=0.4)
    model = LoadModel(plan)
    async with Agent(model, tools=LOAD_TOOLS, clock=RealClock(), listen_timeout=0.2) as agent:
        watch = StateWatch(agent)
        await agent.send(START)
        with anyio.fail_after(30):
            # Results are arriving and the agent is answering them: cut it off mid-answer.
            await wait_for(
                agent,
                lambda: (
                    agent.state is State.GENERATING
                    and any(e.kind == "notification" for e in agent.ledger.own)
                    and agent.dispatcher.current is not None
                    and agent.dispatcher.current.delivered != ""
                ),
            )
        running_at_interrupt = len(agent.runner.running())
        agent.interrupt("the user pressed stop")
        with anyio.fail_after(60):
            await agent.settled()

        result = check_load(agent, model)
        assert result.ok, result
        assert result.notifications == 1000
        assert running_at_interrupt > 0
        assert peak_concurrency([agent]) == 1000
        own = agent.ledger.own
        cut = next(i for i, e in enumerate(own) if e.kind == "assistant" and e.status == "interrupted")
        assert own[cut].text == "working "  # what the user received, and no more
        assert own[cut + 1].kind == "interruption" and own[cut + 1].text == "the user pressed stop"
        # The tools kept running: results arrived after the interruption, each exactly once.
        assert any(e.kind == "notification" for e in own[cut:])
        assert watch.broken == []
        assert agent.state is State.IDLE
        assert {e.status for e in own if e.kind == "assistant"} == {"complete", "interrupted"}
