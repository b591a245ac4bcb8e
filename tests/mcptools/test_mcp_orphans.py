"""No MCP server outlives its agent — nor anything the server started: not when the agent
closes, and not when the agent's process is killed with SIGKILL, which runs no clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import psutil
import pytest
from mcp_kit import ReplyModel, call, notes, server_processes, stdio

from ipyagent import Agent
from ipyagent.agents.updates import TaskChanged

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]
HERE = Path(__file__).parent


def test_sigkill_of_the_agent_process_takes_its_servers_and_their_workers_along() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    agent = subprocess.Popen(
        [sys.executable, str(HERE / "run_agent_with_server.py")], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert agent.stdout is not None
        worker = psutil.Process(int(agent.stdout.readline()))
        left = [*server_processes(agent.pid), worker]
        assert len(left) == 3  # the guard, the server it runs, and the server's worker
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        _, alive = psutil.wait_procs(left, timeout=10)
        assert alive == [], f"orphaned processes: {alive}"
    finally:
        agent.kill()
        agent.wait(10)
        if agent.stdout is not None:
            agent.stdout.close()


async def test_cancelling_the_agent_ends_its_server_the_servers_worker_and_a_running_call() -> None:
    brain = ReplyModel(
        {
            "worker": ("Starting a worker.", [call("start_worker")]),
            "slow": ("A slow one.", [call("slow", label="cut", steps=400, step_seconds=0.05)]),
        }
    )
    async with Agent(brain, mcp={"under": stdio()}) as agent:
        await agent.send("worker")
        await agent.settled()
        worker = psutil.Process(int(notes(agent)[0][2]))
        running = [*server_processes(), worker]
        assert len(running) == 3 and worker.is_running()  # the guard, the server, its worker
        reporting = anyio.Event()
        agent.subscribe(lambda u: reporting.set() if isinstance(u, TaskChanged) and u.task.progress else None)
        await agent.send("slow")
        with anyio.fail_after(30):
            await reporting.wait()  # the slow call runs
        agent.cancel("cancelled with %cancel")
    last = [e.text for e in agent.ledger if e.kind == "notification"][-1]
    assert last == "cancelled (cancelled with %cancel)"
    _, alive = psutil.wait_procs(running, timeout=10)
    assert alive == [] and server_processes() == []
