"""An agent that works without pause against a ledger file, printing each committed entry; a test
kills it with SIGKILL at a random moment and then checks the file.

Usage: python crash_agent.py PATH SEED
Prints "PATH_OF_AGENT INDEX" once the entry is committed (subscribers only see committed entries).
Each round streams an answer, calls tools (one slow, one failing), forks a sub-agent that calls a
tool of its own, and answers the notifications.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import anyio

from ipyagent import Agent, RealClock
from ipyagent.agents import EntryAdded, Update
from ipyagent.dispatch.backends import ScriptedBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests/ for support
from support.simple_tools import failing_tool, lookup_tool

lookup = lookup_tool(0.02, description="Look something up (takes a moment).")
broken = failing_tool("cannot {query}")


def script(rounds: int, rng: random.Random) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for n in range(rounds):
        child = f"helper{n}"
        turns += [
            {
                "agent": "main",
                "delay": rng.uniform(0.0, 0.03),
                "text": f"Round {n}: looking that up, and asking a helper. " * 3,
                "tool_calls": [
                    {"name": "lookup", "arguments": {"query": f"q{n}"}},
                    {"name": "broken", "arguments": {"query": f"q{n}"}},
                    {"name": "fork", "arguments": {"name": child, "task": f"check {n}"}},
                ],
            },
            {
                "agent": child,
                "delay": 0.01,
                "text": "On it.",
                "tool_calls": [{"name": "lookup", "arguments": {"query": f"c{n}"}}],
            },
            {"agent": child, "delay": 0.01, "text": f"Checked {n}."},
        ]
        # One answer per notification the main agent may get (tool result, error, report).
        turns += [{"agent": "main", "delay": 0.01, "text": f"Noted ({n})."} for _ in range(3)]
    return turns


async def main(path: str, seed: int) -> None:
    rng = random.Random(seed)
    clock = RealClock()

    def committed(update: Update) -> None:
        if isinstance(update, EntryAdded):
            print(f"{update.agent.path} {update.entry.index}", flush=True)

    backend = ScriptedBackend.from_list(script(200, rng), clock)
    async with Agent(backend, tools=[lookup, broken], clock=clock, ledger=path) as agent:
        agent.subscribe(committed, children=True)
        for n in range(200):
            await agent.send(f"round {n}")
            await agent.settled()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
