"""Speed figures for the agent core, on the real clock. Run with ``make bench``.

1. Time to answer a quick question while a slow tool runs: asynchronous vs turn-based.
2. Interruption dispatch latency under load (1,000 running tools, 50 busy sub-agents).
3. Event throughput of the runner, with an in-memory and an SQLite ledger.
4. Fork cost and memory vs ledger length (flat), against copying.

Prints tables and writes the figures to bench/results/core.json.
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio

from ipyagent import Agent, Ledger, State, current_clock, tool
from ipyagent.agents import EventHandled, StateChanged, Update
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.events import ToolResult
from ipyagent.testing import wait_for, wait_for_state

RESULTS = Path(__file__).parent / "results"
figures: dict[str, Any] = {}


def title(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --- 1. asynchronous vs turn-based ---------------------------------------------------------------

ITINERARY_S, WEATHER_S, TURN_S = 2.0, 0.05, 0.05


@tool
async def plan_itinerary(city: str, days: int) -> str:
    "Plan a detailed day-by-day itinerary."
    await current_clock().sleep(ITINERARY_S)
    return f"{days} days in {city}"


@tool
async def get_weather(city: str) -> str:
    "Current weather for a city."
    await current_clock().sleep(WEATHER_S)
    return f"{city}: sunny"


PLAN = {
    "delay": TURN_S,
    "text": "Planning.",
    "tool_calls": [{"name": "plan_itinerary", "arguments": {"city": "Paris", "days": 3}}],
}
CHECK = {
    "delay": TURN_S,
    "text": "Checking.",
    "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
}
SUNNY = {"delay": TURN_S, "text": "It is sunny in Paris."}
READY = {"delay": TURN_S, "text": "Your itinerary is ready."}


async def time_to_weather(turn_based: bool) -> float:
    from ipyagent.clock import RealClock

    clock = RealClock()
    script = [PLAN, READY, CHECK, SUNNY] if turn_based else [PLAN, CHECK, SUNNY, READY]
    backend = ScriptedBackend.from_list(script, clock)
    async with Agent(
        backend, tools=[plan_itinerary, get_weather], clock=clock, turn_based=turn_based
    ) as agent:
        await agent.send("Plan me 3 days in Paris")
        await wait_for(agent, lambda: any(t.name == "plan_itinerary" for t in agent.tasks))
        asked = time.perf_counter()
        await agent.send("What's the weather there now?")
        await wait_for(agent, lambda: agent.ledger[-1].text == "It is sunny in Paris.")
        answered = time.perf_counter() - asked
        await agent.settled()
        return answered


async def bench_async_vs_turn_based() -> None:
    title("1. Time to answer the quick question while the slow tool runs (real clock)")
    print(
        f"   itinerary tool {ITINERARY_S} s, weather tool {WEATHER_S} s, "
        f"each model turn {TURN_S} s; median of 3"
    )
    fast = statistics.median([await time_to_weather(False) for _ in range(3)])
    slow = statistics.median([await time_to_weather(True) for _ in range(3)])
    ratio = slow / fast
    print(f"   {'asynchronous':<14}{fast * 1000:9.0f} ms")
    print(f"   {'turn-based':<14}{slow * 1000:9.0f} ms")
    print(f"   {'speed-up':<14}{ratio:9.1f} x    goal >= 5x  {verdict(ratio >= 5)}")
    figures["time_to_answer"] = {"async_ms": fast * 1000, "turn_based_ms": slow * 1000, "ratio": ratio}


# --- 2. interruption latency under load ----------------------------------------------------------


@tool
async def busy(n: int) -> str:
    "A tool that runs for a long time."
    await current_clock().sleep(3600)
    return "never"


async def bench_interrupt_latency(rounds: int = 300) -> None:
    from ipyagent.clock import RealClock

    title("2. Interruption dispatch latency: interrupt() to LISTENING (real clock)")
    clock = RealClock()
    long_turn = {"delay": 600, "text": " ".join(["word"] * 50)}
    script: list[dict[str, Any]] = [
        {
            "delay": 0.0,
            "text": "Starting the jobs.",
            "tool_calls": [{"name": "busy", "arguments": {"n": i}} for i in range(1000)],
        },
    ]
    script += [
        {
            "agent": f"child{i}",
            "delay": 0.0,
            "text": "On it.",
            "tool_calls": [{"name": "busy", "arguments": {"n": i}}],
        }
        for i in range(50)
    ]
    # Each round interrupts two generations.
    script += [dict(long_turn, agent="main") for _ in range(2 * rounds)]
    backend = ScriptedBackend.from_list(script, clock)
    latencies: list[float] = []
    async with Agent(backend, tools=[busy], clock=clock) as agent:
        await agent.send("start 1000 jobs")
        await wait_for(agent, lambda: len(agent.running_tasks()) == 1000 and agent.state is State.IDLE)
        children = [agent.spawn(f"job {i}", name=f"child{i}") for i in range(50)]
        await wait_for(agent, lambda: all(c.tasks and c.state is State.IDLE for c in children))
        interrupted_at = 0.0

        def on_update(update: Update) -> None:
            if isinstance(update, StateChanged) and update.agent is agent and update.new is State.LISTENING:
                latencies.append(time.perf_counter() - interrupted_at)

        agent.subscribe(on_update)
        for _ in range(rounds):
            await agent.send("talk", interrupt=False)
            await wait_for_state(agent, State.GENERATING)
            await anyio.sleep(0.001)  # let the generation stream begin
            interrupted_at = time.perf_counter()
            agent.interrupt()
            await wait_for_state(agent, State.LISTENING)
            await agent.send("ok", interrupt=False)  # back to idle via a user turn
            await wait_for_state(agent, State.GENERATING)
            interrupted_at = time.perf_counter()  # the second sample times its own interruption
            agent.interrupt()
            await wait_for_state(agent, State.LISTENING)
        running = len(agent.running_tasks()) + sum(len(c.running_tasks()) for c in children)
        agent.cancel("benchmark over")
    ms = sorted(x * 1000 for x in latencies)
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    print(f"   with {running} tools running across the main agent and 50 sub-agents; {len(ms)} interruptions")
    print(
        f"   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   max {ms[-1]:7.3f} ms    "
        f"goal p99 <= 5 ms  {verdict(p99 <= 5)}"
    )
    figures["interrupt_latency_ms"] = {
        "p50": p50,
        "p99": p99,
        "max": ms[-1],
        "n": len(ms),
        "tools_running": running,
    }


# --- 3. event throughput -------------------------------------------------------------------------


async def throughput(ledger: Ledger | None, n: int) -> float:
    from ipyagent.clock import RealClock

    clock = RealClock()
    # One long generation: the notifications are held while it runs, then recorded in one burst.
    backend = ScriptedBackend.from_list([{"delay": 0.0, "text": "ok"}, {"delay": 0.0, "text": "done"}], clock)
    handled = 0

    def on_update(update: Update) -> None:
        nonlocal handled
        if isinstance(update, EventHandled) and isinstance(update.event, ToolResult):
            handled += 1

    async with Agent(backend, clock=clock, ledger=ledger) as agent:
        agent.subscribe(on_update)
        started = time.perf_counter()
        for i in range(n):
            agent.post(ToolResult(f"result {i}", task_id=f"x{i}", name="bulk"))
        await wait_for(agent, lambda: handled >= n)
        elapsed = time.perf_counter() - started
        await agent.settled()
        assert sum(1 for e in agent.ledger if e.kind == "notification") == n
    return n / elapsed


async def bench_throughput() -> None:
    title("3. Event throughput: notifications handled and recorded per second")
    n = 20_000
    memory = await throughput(None, n)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await throughput(Ledger.open(Path(tmp) / "bench.sqlite"), n)
    print(f"   {n} notifications posted at once, each recorded in the ledger (one commit each with SQLite)")
    print(f"   {'in-memory ledger':<20}{memory:12,.0f} events/s")
    print(f"   {'SQLite ledger':<20}{sqlite:12,.0f} events/s")
    figures["throughput_events_per_s"] = {"memory": memory, "sqlite": sqlite}


# --- 4. fork cost --------------------------------------------------------------------------------


def bench_fork() -> None:
    title("4. Fork cost vs ledger length (structural sharing) against copying the entries")
    print(
        f"   {'entries':>8} {'store':>7} {'fork µs':>9} {'fork bytes':>11} {'copy µs':>9} {'copy bytes':>11}"
    )
    rows = []
    for n in (1_000, 10_000, 100_000):
        for store in ("memory", "sqlite"):
            if store == "sqlite" and n > 10_000:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                ledger = Ledger.open(Path(tmp) / "f.sqlite") if store == "sqlite" else Ledger("main")
                for i in range(n):
                    ledger.append("user", f"message {i}", time=float(i))
                times, sizes = [], []
                for k in range(50):
                    gc.collect()
                    tracemalloc.start()
                    t = time.perf_counter()
                    fork = ledger.fork(f"main/f{k}")
                    times.append(time.perf_counter() - t)
                    sizes.append(tracemalloc.get_traced_memory()[0])
                    tracemalloc.stop()
                    del fork
                tracemalloc.start()
                t = time.perf_counter()
                copy = list(ledger)
                copy_time = time.perf_counter() - t
                copy_size = tracemalloc.get_traced_memory()[0]
                tracemalloc.stop()
                del copy
                if ledger.store is not None:
                    ledger.store.close()
            fork_us, fork_bytes = statistics.median(times) * 1e6, statistics.median(sizes)
            print(
                f"   {n:>8} {store:>7} {fork_us:>9.1f} {fork_bytes:>11,.0f} "
                f"{copy_time * 1e6:>9.0f} {copy_size:>11,}"
            )
            rows.append(
                {
                    "entries": n,
                    "store": store,
                    "fork_us": fork_us,
                    "fork_bytes": fork_bytes,
                    "copy_us": copy_time * 1e6,
                    "copy_bytes": copy_size,
                }
            )
    figures["fork"] = rows


async def main() -> None:
    print("ipyagent core benchmarks")
    await bench_async_vs_turn_based()
    await bench_interrupt_latency()
    await bench_throughput()
    bench_fork()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "core.json").write_text(json.dumps(figures, indent=2))
    print(f"\nfigures written to {RESULTS / 'core.json'}")


if __name__ == "__main__":
    anyio.run(main)
