"""Parallel function calling: how much sooner an asynchronous agent finishes than a sequential one.

Each task asks for 2-8 independent tool calls with lognormal latencies. A simulated model charges
decoding per token on the virtual clock (a fixed prompt-processing time per generation, then each
token of text and of each call's arguments), so a call's arguments are complete at a known moment.
Four agents do every task, side by side in one run:

- sequential: one call per generation, the next only after the previous result (a turn-based agent);
- today: every call of the turn starts when the whole generation has ended, and every result that
  arrives while the agent is idle starts a generation of its own (the dispatcher before this change);
- async, window W: each call starts the moment its arguments are decoded, and results that arrive
  within W seconds of each other share one generation (the agent now);
- bound: every call starts as soon as decoded and the final answer starts the moment the last
  result arrives (computed, not run: what no agent can beat).

Prints the median speed-up over the sequential agent, how far each is from the bound, and
generations per task. ``python bench/parallel_tools.py [tasks]``.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from ipyagent import Agent, current_clock, tool
from ipyagent.dispatch.backends.base import Chunk, TextChunk, ToolCallChunk, UsageChunk
from ipyagent.events import ToolCallRequest, Usage
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock

PER_TOKEN = 0.03  # seconds per decoded token (about 33 tokens/s)
PREFILL = 0.25  # seconds of prompt processing before a generation's first token
TEXT_TOKENS = 12  # what the model says before its calls
CALL_TOKENS = (15, 35)  # tokens of one call's name and arguments (uniform range)
ACK_TOKENS = 12  # a short word about one result while others still run
ANSWER_TOKENS = 40  # the final answer
LATENCY_MEDIAN, LATENCY_SIGMA = 2.0, 0.8  # lognormal tool latency, seconds


@dataclass(frozen=True)
class Task:
    latencies: tuple[float, ...]
    call_tokens: tuple[int, ...]

    def bound(self) -> float:
        """Every call starts when decoded; the final answer starts when the last result is in."""
        decoded = PREFILL + TEXT_TOKENS * PER_TOKEN
        last = 0.0
        for latency, tokens in zip(self.latencies, self.call_tokens, strict=True):
            decoded += tokens * PER_TOKEN
            last = max(last, decoded + latency)
        return last + PREFILL + ANSWER_TOKENS * PER_TOKEN


def make_tasks(n: int, seed: int = 15) -> list[Task]:
    rng = random.Random(seed)
    tasks = []
    for _ in range(n):
        k = rng.randint(2, 8)
        latencies = tuple(rng.lognormvariate(0, LATENCY_SIGMA) * LATENCY_MEDIAN for _ in range(k))
        tasks.append(Task(latencies, tuple(rng.randint(*CALL_TOKENS) for _ in range(k))))
    return tasks


@tool
async def work(n: int, seconds: float) -> str:
    "Do piece n of the job."
    await current_clock().sleep(seconds)
    return f"piece {n} done"


class DecodingModel:
    """Plans the task's calls and answers; charges time per token on the clock.

    ``sequential``: one call per generation. ``hold_calls``: yield calls only when the whole
    generation has been decoded (how the dispatcher behaved before calls started when decoded).
    """

    def __init__(self, task: Task, *, sequential: bool = False, hold_calls: bool = False) -> None:
        self.task = task
        self.sequential = sequential
        self.hold_calls = hold_calls
        self.name = "decoding-model"

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        clock = current_clock()
        made = sum(1 for e in context.entries if e.kind == "tool_call")
        results = sum(1 for e in context.entries if e.kind == "notification" and e.task_id)
        k = len(self.task.latencies)
        await clock.sleep(PREFILL)
        if self.sequential and made < k and results == made:
            todo = [made]
            text = TEXT_TOKENS if made == 0 else 0
        elif not self.sequential and made == 0:
            todo, text = list(range(k)), TEXT_TOKENS
        else:
            todo, text = [], ANSWER_TOKENS if results == k else ACK_TOKENS
        for _ in range(text):
            await clock.sleep(PER_TOKEN)
            yield TextChunk("word ")
        held = []
        for n in todo:
            await clock.sleep(self.task.call_tokens[n] * PER_TOKEN)
            call = ToolCallChunk(ToolCallRequest("work", {"n": n, "seconds": self.task.latencies[n]}))
            if self.hold_calls:
                held.append(call)
            else:
                yield call
        for call in held:
            yield call
        yield UsageChunk(Usage())


async def run(
    task: Task, *, sequential: bool = False, hold_calls: bool = False, window: float = 0.0
) -> tuple[float, int]:
    """Seconds until the agent has answered everything, and how many generations it took."""
    async with VirtualClock() as clock:
        model = DecodingModel(task, sequential=sequential, hold_calls=hold_calls)
        async with Agent(model, tools=[work], clock=clock, builtins=False, fold_window=window) as agent:
            start = clock.now()
            await agent.send("do the job")
            await agent.settled()
            took = clock.now() - start
        return took, sum(1 for e in agent.ledger.own if e.kind == "assistant")


async def main(n: int) -> None:
    tasks = make_tasks(n)
    windows = (0.0, 0.25, 1.0)
    rows: dict[str, list[tuple[float, int]]] = {"sequential": [], "today": []}
    rows.update({f"async, window {w:g} s": [] for w in windows})
    for task in tasks:
        rows["sequential"].append(await run(task, sequential=True))
        rows["today"].append(await run(task, hold_calls=True))
        for w in windows:
            rows[f"async, window {w:g} s"].append(await run(task, window=w))
    sequential = [t for t, _ in rows["sequential"]]
    bound = statistics.median(s / task.bound() for s, task in zip(sequential, tasks, strict=True))
    lines = [
        f"parallel tool tasks: {n} tasks, 2-8 calls each, lognormal latency (median {LATENCY_MEDIAN:g} s, "
        f"sigma {LATENCY_SIGMA:g}), {PER_TOKEN * 1000:g} ms/token, {PREFILL:g} s prompt processing",
        f"{'agent':<22}{'median speed-up':>16}{'vs bound':>10}{'generations/task':>18}",
    ]
    for name, results in rows.items():
        speedups = [s / t for s, (t, _) in zip(sequential, results, strict=True)]
        median = statistics.median(speedups)
        gens = statistics.mean(g for _, g in results)
        lines.append(f"{name:<22}{median:>15.2f}x{(median / bound - 1) * 100:>+9.1f}%{gens:>18.2f}")
    lines.append(f"{'bound (computed)':<22}{bound:>15.2f}x{0:>+9.1f}%{'':>18}")
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "parallel_tools.txt").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100)
