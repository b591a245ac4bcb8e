"""Speed figures for MCP servers as tool sources. Run with ``make bench``.

1. Start time of a stdio server: the SDK alone (``mcp.Client`` on the command) and through
   ipyagent (the same server under the guard that makes it die with the agent, plus listing its
   tools), side by side, alternating, in one run.
2. Overhead per call: the same fast tool called N times through the SDK's client alone, and
   through the agent's tool path — arguments validated, a background task started, the server
   called, the result turned into a notification event (the model is not involved) — on the
   same kind of server. The difference per call is what ipyagent adds (goal: < 2 ms).

Prints tables and writes the figures to bench/results/mcp_tools.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from ipyagent import Agent
from ipyagent.clock import RealClock
from ipyagent.dispatch.tasks import TaskRunner
from ipyagent.events import ToolResult
from ipyagent.mcp import McpServers

SERVER = str(Path(__file__).resolve().parents[1] / "tests" / "mcptools" / "server_under_test.py")
RESULTS = Path(__file__).parent / "results"
figures: dict[str, Any] = {}


class Silent:
    """A model that is never asked: the bench starts tool calls directly."""

    name = "silent"

    async def stream(self, context: Any, *, agent: str) -> Any:
        raise AssertionError("not used")
        yield


def title(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}")


async def sdk_start() -> float:
    from mcp import Client, StdioServerParameters

    began = time.perf_counter()
    async with Client(StdioServerParameters(command=sys.executable, args=[SERVER, "stdio"])) as client:
        await client.list_tools()
        return time.perf_counter() - began


async def agent_start() -> float:
    server = {"command": sys.executable, "args": [SERVER, "stdio"]}
    async with Agent(Silent(), mcp={"under": server}) as agent:
        began = time.perf_counter()
        faults = await agent.start_mcp()
        assert not faults, faults
        return time.perf_counter() - began


async def bench_start(rounds: int) -> None:
    title(f"1. Starting a stdio MCP server (Python, the SDK's server API), {rounds} rounds each")
    sdk, ours = [], []
    for _ in range(rounds):
        sdk.append(await sdk_start())
        ours.append(await agent_start())
    rows = [("SDK alone", sdk), ("ipyagent (guard + list tools)", ours)]
    for name, values in rows:
        median, low = statistics.median(values) * 1000, min(values) * 1000
        print(f"{name:<32} median {median:7.0f} ms   min {low:7.0f} ms")
    figures["start_ms"] = {name: round(statistics.median(v) * 1000, 1) for name, v in rows}


async def sdk_calls(calls: int) -> tuple[float, float]:
    from mcp import Client, StdioServerParameters

    async with Client(StdioServerParameters(command=sys.executable, args=[SERVER, "stdio"])) as client:
        await client.call_tool("add", {"a": 1, "b": 2})  # warm
        began, cpu = time.perf_counter(), time.process_time()
        for n in range(calls):
            result = await client.call_tool("add", {"a": n, "b": 1})
            assert not result.is_error
        return (time.perf_counter() - began) / calls, (time.process_time() - cpu) / calls


async def agent_calls(calls: int) -> tuple[float, float]:
    """The agent's path for a tool call, without the model: validate the arguments, start a
    background task, call the server, turn the result into a notification event."""
    clock = RealClock()
    notified = anyio.Event()

    def post(event: Any) -> None:
        assert isinstance(event, ToolResult), event
        notified.set()

    server = {"command": sys.executable, "args": [SERVER, "stdio"]}
    async with anyio.create_task_group() as tg:
        servers = McpServers.from_spec({"under": server}, clock)
        tg.start_soon(servers.run)
        assert not await servers.start_all()
        runner = TaskRunner(clock=clock, post=post)
        runner.attach(tg)
        add = servers.tools()["add"]
        began = cpu = 0.0
        for n in range(calls + 1):  # the first call warms up
            if n == 1:
                began, cpu = time.perf_counter(), time.process_time()
            notified = anyio.Event()
            add.start(runner, add.validate({"a": n, "b": 1}), f"c{n}")  # as the dispatcher does
            await notified.wait()
        elapsed = (time.perf_counter() - began) / calls, (time.process_time() - cpu) / calls
        await servers.stop_all()
        tg.cancel_scope.cancel()
    return elapsed


async def bench_calls(calls: int, rounds: int) -> None:
    title(f"2. One fast MCP call ({calls} calls one after another, {rounds} rounds each, alternating)")
    sdk, ours = [], []
    for _ in range(rounds):
        sdk.append(await sdk_calls(calls))
        ours.append(await agent_calls(calls))
    figures["call_ms"] = {}
    # Wall time depends on the server process and the machine's load; CPU time of this process
    # (the client side) is what our layer adds, and holds up on a busy machine.
    for what, index in (("wall time", 0), ("client CPU time", 1)):
        s = statistics.median(r[index] for r in sdk) * 1000
        o = statistics.median(r[index] for r in ours) * 1000
        print(f"{what:<16} SDK alone {s:6.2f} ms   ipyagent {o:6.2f} ms   overhead {o - s:+6.2f} ms per call")
        figures["call_ms"][what] = {"sdk": round(s, 3), "ipyagent": round(o, 3), "overhead": round(o - s, 3)}
    print("(goal: overhead < 2 ms per call)")


async def main() -> None:
    await bench_start(rounds=2)
    await bench_calls(calls=200, rounds=3)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mcp_tools.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    anyio.run(main)
