"""A program that runs an agent with one stdio MCP server, has the server start a worker process,
and waits forever: the test SIGKILLs it and checks that the server and its worker die too.
Prints the worker's pid once all runs."""

from __future__ import annotations

import anyio
from mcp_kit import ReplyModel, call, stdio

from ipyagent import Agent


async def main() -> None:
    brain = ReplyModel({"go": ("Starting a worker.", [call("start_worker")])})
    async with Agent(brain, mcp={"under": stdio()}) as agent:
        await agent.send("go")
        await agent.settled()
        print(next(e.text for e in agent.ledger if e.kind == "notification"), flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main)
