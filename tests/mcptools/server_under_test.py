"""A real MCP server written with the SDK's server API, for the tests, the notebook and the bench.

    python server_under_test.py stdio              serve over stdin/stdout
    python server_under_test.py http PORT          serve streamable HTTP on 127.0.0.1:PORT/mcp
    python server_under_test.py fail-start         exit at once with a message on stderr
    python server_under_test.py hang               start, never answer
    python server_under_test.py garbage            answer with lines that are not MCP
    python server_under_test.py bad-result         speak MCP, answer every call with a malformed result

Tools: ``add`` (fast), ``slow`` (reports progress; remembers when it was cancelled, and
``was_cancelled`` tells), ``fail`` (an error result), ``huge`` (a result of N characters), ``crash`` (the
process exits mid-call), ``env`` (reads one environment variable).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def plain_mode(mode: str) -> None:
    """The misbehaving modes, before the SDK is imported (so they start at once)."""
    if mode == "fail-start":
        sys.stderr.write("config file missing: /nowhere/settings.toml\n")
        sys.exit(2)
    elif mode == "hang":
        time.sleep(3600)
    elif mode == "garbage":
        while sys.stdin.buffer.readline():
            sys.stdout.write("this is not json-rpc\n")
            sys.stdout.flush()
    elif mode == "bad-result":
        bad_results()
    sys.exit(0)


def bad_results() -> None:
    """JSON-RPC by hand: a proper handshake and tool list (``add``), then results whose
    ``content`` is a string instead of a list of content blocks."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    for line in sys.stdin.buffer:
        request = json.loads(line)
        if "id" not in request:
            continue  # a notification
        method = request["method"]
        if method == "initialize":
            result: dict[str, object] = {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "bad-result", "version": "1"},
            }
        elif method == "tools/list":
            result = {"tools": [{"name": "add", "description": "Add two integers.", "inputSchema": schema}]}
        elif method == "tools/call":
            result = {"content": "3", "isError": "perhaps"}
        else:
            result = {}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__" and sys.argv[1:2] in (["fail-start"], ["hang"], ["garbage"], ["bad-result"]):
    plain_mode(sys.argv[1])

import anyio  # noqa: E402
from mcp.server.mcpserver import Context, MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402

server = MCPServer("under-test", instructions="A server the ipyagent tests talk to.", log_level="ERROR")
# Set when a call of ``slow`` with that label was cancelled by the client.
CANCELLED: dict[str, anyio.Event] = {}


def _cancel_event(label: str) -> anyio.Event:
    return CANCELLED.setdefault(label, anyio.Event())


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def slow(label: str, steps: int, ctx: Context, step_seconds: float = 0.05) -> str:
    """Work through STEPS steps, reporting progress after each."""
    try:
        for step in range(1, steps + 1):
            await anyio.sleep(step_seconds)
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
    except anyio.get_cancelled_exc_class():
        _cancel_event(label).set()
        raise
    return f"{label}: finished {steps} steps"


@server.tool()
async def was_cancelled(label: str) -> str:
    """'yes' once the call of slow with LABEL has been cancelled by the client (waits up to 10 s)."""
    with anyio.move_on_after(10):
        await _cancel_event(label).wait()
        return "yes"
    return "no"


@server.tool()
def fail(message: str) -> str:
    """Always fails with MESSAGE."""
    raise ToolError(message)


@server.tool()
def huge(chars: int) -> str:
    """Return a text of CHARS characters."""
    return "x" * chars


@server.tool()
def crash() -> str:
    """The server process exits in the middle of this call."""
    sys.stderr.write("crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
def start_worker() -> int:
    """Start a helper process that runs until killed (as a server's own workers do); its pid."""
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    return worker.pid


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable of the server process, or '(unset)'."""
    return os.environ.get(name, "(unset)")


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else "stdio"
    if mode == "stdio":
        server.run("stdio")
    elif mode == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
