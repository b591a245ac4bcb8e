"""Shared pieces of the MCP tests: the test server's configs, an HTTP server on a free loopback
port, a scripted agent run, and finding server processes."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

SERVER = str(Path(__file__).with_name("server_under_test.py"))


def stdio(mode: str = "stdio", **settings: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [SERVER, mode], **settings}


def call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    """The test server over streamable HTTP on 127.0.0.1; yields its URL; stops it after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, "http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_listening(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


def wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Block until something accepts connections on the port (the server has started)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the test server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.05)  # a bounded wait on the process itself, not a sleep
    raise RuntimeError(f"the test server did not listen on port {port} within {seconds} s")


def server_processes(root: int | None = None) -> list[psutil.Process]:
    """The test server's processes that agents started (and the guards that run them) among the
    descendants of ``root`` (default: this process); not the HTTP servers the tests start."""
    found = []
    for proc in psutil.Process(root).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            line = proc.cmdline()
            if SERVER in line and "http" not in line and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def servers_running(root: int | None = None) -> int:
    """How many test servers run under guards (one guard and one server each)."""
    return sum(1 for p in server_processes(root) if not any("guard.py" in a for a in p.cmdline()))


def notes(agent: Any) -> list[tuple[str | None, str | None, str]]:
    """``(source, name, text)`` of each notification in the agent's ledger."""
    return [(e.source, e.name, e.text) for e in agent.ledger if e.kind == "notification"]


class ReplyModel:
    """A model for the tests that answers each user message by its text (``replies``) and every
    notification with "noted": how many generations the notifications cause does not matter.
    It remembers the tool names each generation was offered."""

    name = "reply-model"

    def __init__(self, replies: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        self.replies = replies
        self.offered: list[list[str]] = []

    async def stream(self, context: Any, *, agent: str) -> Any:
        from ipyagent.dispatch.backends.base import TextChunk, ToolCallChunk
        from ipyagent.events import ToolCallRequest

        self.offered.append([t.name for t in context.tools])
        last = context.entries[-1]
        text, calls = self.replies.get(last.text, ("noted", [])) if last.kind == "user" else ("noted", [])
        yield TextChunk(text)
        for c in calls:
            yield ToolCallChunk(ToolCallRequest(c["name"], c["arguments"]))
