"""MCP in a real ipyagent kernel: %mcp add, a call by the agent, %mcp and %tools listing the
server and its tools, and no server process left once the kernel has shut down."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

SERVER = Path(__file__).resolve().parents[1] / "mcptools" / "server_under_test.py"


def servers_under(pid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            if str(SERVER) in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_mcp_add_a_call_the_listing_and_shutdown_leaves_no_server(start_kernel, script) -> None:
    kernel = start_kernel(
        script(
            [
                {"text": "Adding.", "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
                {"text": "It is 5."},
            ]
        )
    )
    added = kernel.text(f"%mcp add calc --approve --timeout 60 -- {sys.executable} {SERVER} stdio")
    assert added.strip() == (
        f"added MCP server 'calc' (stdio: {sys.executable} {SERVER} stdio); it starts on first use"
    )
    pid = kernel.km.provisioner.pid
    assert servers_under(pid) == []  # not before its first use

    asked = kernel.text("%agent add 2 and 3\n%agent --wait", timeout=90)
    assert "the agent is waiting for you: %approve r1" in asked, asked  # the server requires it
    assert kernel.text("%approve r1").strip() == "request r1 approved"
    kernel.run("%agent --wait", timeout=60)
    ledger = kernel.text("%ledger --text")
    assert "[tool_result t1 add] 5" in ledger, ledger

    listing = kernel.text("%mcp")
    lines = listing.splitlines()
    assert lines[0].startswith("calc  stdio: ") and lines[1].strip().startswith("ready (started in ")
    assert lines[2].split(", ")[:3] == ["    tools: add", "slow", "was_cancelled"]
    tools = kernel.text("%tools")
    assert any(line.split()[:2] == ["add", "mcp:calc"] for line in tools.splitlines()), tools

    running = servers_under(pid)
    assert len(running) == 2  # the guard and the server
    kernel.km.shutdown_kernel(now=False)
    _, alive = psutil.wait_procs(running, timeout=15)
    assert alive == [], f"left behind: {alive}"


@pytest.mark.slow
def test_mcp_mistakes_are_one_line(start_kernel) -> None:
    kernel = start_kernel()

    def shown(code: str) -> str:
        name, text = kernel.error(code)
        assert name == "UsageError" and text.count("\n") == 1, text  # one line, no traceback
        return text.removeprefix("UsageError: ").strip()

    assert shown("%mcp add files") == "%mcp add files: give a command after -- or a URL"
    assert shown("%mcp add 'my files' -- srv").startswith(
        "MCP server 'my files' (%mcp add): a server name is 1-40 letters"
    )
    assert shown("%mcp remove nothing") == "no MCP server named 'nothing'; servers: none"
    assert shown("%mcp frobnicate").startswith("%mcp: unknown command 'frobnicate'")
    assert shown("%mcp add x --timeout soon -- srv") == (
        "%mcp add --timeout: needs a number of seconds, such as 60, got 'soon'; see %mcp --help"
    )
    assert kernel.text("%mcp").startswith("no MCP servers: add one with %mcp add NAME -- COMMAND ARGS...")
