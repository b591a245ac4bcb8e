"""One MCP server as the agent sees it: started on first use, one session at a time, stopped
with the agent; every way it can fail becomes one line for the user and the model.

The official ``mcp`` SDK is imported here only, when a server first starts.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
import anyio.abc
import anyio.to_thread

from ..clock import Clock
from ..errors import IpyagentError, one_line
from ..redaction import redact
from .config import ServerConfig

if TYPE_CHECKING:
    from mcp import Client
    from mcp_types import CallToolResult
    from mcp_types import Tool as McpToolInfo

ServerState = Literal["stopped", "starting", "ready", "failed"]


class ProgressCallback(Protocol):
    """Hears a call's MCP progress notifications."""

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None: ...


GUARD = Path(__file__).with_name("guard.py")
# The longest tail of a server's stderr kept for its error messages.
STDERR_TAIL = 4096


class McpServerError(IpyagentError):
    """Raised when an MCP server cannot start, stops, or misbehaves; the message is one line
    that names the server, says what happened and what happens next."""


class McpToolError(IpyagentError):
    """Raised when an MCP tool answers with an error result (the server itself is fine)."""


class McpServer:
    """A configured MCP server and, while it runs, its session.

    Invariant: ``client`` is set exactly while ``state == "ready"``; the session lives in one task
    (``_own``), which holds the SDK's context managers from start to stop.
    """

    def __init__(self, config: ServerConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.state: ServerState = "stopped"
        self.error: str | None = None
        self.tools: list[McpToolInfo] = []
        self.start_seconds: float | None = None
        self.starts = 0
        self.calls = 0
        self.client: Client | None = None
        self._lock = anyio.Lock()
        self._stop = anyio.Event()
        self._ended = anyio.Event()
        self._ended.set()
        self._stderr: Any = None
        self._malformed: str | None = None
        # Cancels a session that never became ready (a hung start); a ready one stops gently.
        self._scope: anyio.CancelScope | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self.client is not None

    def describe(self) -> str:
        """One line: state, and what went wrong last."""
        state: str = self.state
        if state == "ready" and self.start_seconds is not None:
            state += f" (started in {self.start_seconds:.2f} s)"
        return state + (f": {self.error}" if self.error and self.state != "ready" else "")

    # --- lifecycle ----------------------------------------------------------------------------

    async def ensure_started(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the server unless it runs; raise McpServerError saying why it could not."""
        async with self._lock:
            if self.ready:
                return
            await self._end_session()
            with self.clock.holding():
                await load_sdk()  # seconds on a busy machine: not the server's start-up time
            self.state, self.error, self._malformed = "starting", None, None
            self.starts += 1
            self._stop = anyio.Event()
            self._ended = anyio.Event()
            ready = anyio.Event()
            began = time.perf_counter()
            tg.start_soon(self._own, ready, name=f"mcp server {self.name}")
            # A real process starts in real time, whatever clock the agent runs on; hold a
            # virtual clock meanwhile so it does not run ahead of the start.
            with self.clock.holding(), anyio.move_on_after(self.config.startup_timeout) as waited:
                await ready.wait()
            if waited.cancelled_caught:
                hint = f" (it wrote something that is not MCP: {self._malformed})" if self._malformed else ""
                self._fail(f"did not answer within {self.config.startup_timeout:g} s of starting{hint}")
                await self._end_session()
            if not self.ready:
                raise McpServerError(self.fault_text())
            self.start_seconds = time.perf_counter() - began

    async def stop(self) -> None:
        """Stop the session (and the process, if we started it); waits until it is gone."""
        async with self._lock:
            await self._end_session()
            if self.state != "failed":
                self.state = "stopped"

    async def _end_session(self) -> None:
        self._stop.set()
        if self._scope is not None and self.client is None:
            self._scope.cancel(reason="the MCP server did not start")
        with anyio.CancelScope(shield=True):
            await self._ended.wait()
        self.client = None

    def lost(self, why: str) -> None:
        """The session broke (the server exited or hung up): forget it; the next use restarts."""
        self._fail(why)
        self._stop.set()

    def _fail(self, why: str) -> None:
        self.state, self.error, self.client = "failed", why, None

    def fault_text(self) -> str:
        return f"MCP server {self.name!r} {self.error or 'failed'}"

    async def _own(self, ready: anyio.Event) -> None:
        """The session's whole life, in one task: connect, list tools, wait for the stop."""
        self._scope = anyio.CancelScope()
        try:
            with self._scope:
                async with AsyncExitStack() as stack:
                    client = await self._connect(stack)
                    self.tools = await _all_tools(client)
                    self.client, self.state = client, "ready"
                    ready.set()
                    await self._stop.wait()
        except anyio.get_cancelled_exc_class():
            if self.state == "starting":
                self._fail("was stopped while starting")
            raise
        except Exception as exc:
            if self.state in ("starting", "ready"):
                self._fail(self._explain(exc))
        finally:
            self.client = None
            if self.state in ("starting", "ready"):
                self.state = "stopped"
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
            ready.set()
            self._ended.set()

    async def _connect(self, stack: AsyncExitStack) -> Client:
        from mcp import Client

        config = self.config
        transport: Any
        if config.url is not None:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = await stack.enter_async_context(create_mcp_http_client(headers=dict(config.headers)))
            transport = streamable_http_client(config.url, http_client=http)
            verb = f"could not connect to {config.url}"
        else:
            from mcp import StdioServerParameters
            from mcp.client.stdio import get_default_environment, stdio_client

            assert config.command is not None
            env = {**get_default_environment(), **config.env}
            if shutil.which(config.command, path=env.get("PATH")) is None:
                raise McpServerError(f"could not start: command {config.command!r} not found")
            # Its stderr goes to a file we read back when something fails (closed by _own).
            self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            params = StdioServerParameters(
                command=sys.executable,
                args=["-I", "-S", str(GUARD), config.command, *config.args],
                env={**env, "IPYAGENT_MCP_PARENT": str(os.getpid())},
                cwd=config.cwd,
            )
            transport = stdio_client(params, errlog=self._stderr)
            verb = "could not start"
        client = Client(transport, message_handler=self._on_message)
        try:
            return await stack.enter_async_context(client)
        except Exception as exc:
            raise McpServerError(f"{verb}: {self._explain(exc)}") from exc

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):  # a line the SDK could not read as MCP
            self._malformed = _malformed_text(message)
        await anyio.lowlevel.checkpoint()

    # --- calls --------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any], progress: ProgressCallback | None) -> str:
        """Call ``tool`` and return its result as text; McpToolError for an error result,
        McpServerError when the server fails during the call. Cancelling the caller sends the
        server an MCP cancellation."""
        from mcp import MCPError

        client = self.client
        if client is None:
            raise McpServerError(self.fault_text())
        self.calls += 1
        try:
            with self.clock.holding():
                result = await client.call_tool(tool, arguments, progress_callback=progress)
        except MCPError as exc:
            if exc.code == -32000:  # CONNECTION_CLOSED: the process exited or the server hung up
                self.lost(f"stopped during the call{self._last_words()}; it restarts on next use")
                raise McpServerError(self.fault_text()) from None
            raise McpToolError(_quote(exc.message or str(exc))) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.lost(f"connection lost during the call ({self._explain(exc)}); it restarts on next use")
            raise McpServerError(self.fault_text()) from None
        except Exception as exc:
            if anyio.get_cancelled_exc_class() is type(exc):
                raise
            if _is_http_failure(exc):
                self.lost(f"connection lost during the call ({self._explain(exc)}); it restarts on next use")
                raise McpServerError(self.fault_text()) from None
            from pydantic import ValidationError  # the SDK's models are pydantic's; loaded with it

            if isinstance(exc, ValidationError):
                raise McpToolError(f"{tool}: the server sent a result that is not valid MCP") from None
            raise
        return result_text(tool, result)

    # --- explaining failures ------------------------------------------------------------------

    def _last_words(self) -> str:
        tail = self._stderr_tail()
        return f" (its last words: {tail})" if tail else ""

    def _stderr_tail(self) -> str:
        file = self._stderr
        if file is None:
            return ""
        try:
            file.flush()
            size = file.seek(0, 2)
            file.seek(max(0, size - STDERR_TAIL))
            lines = [line.strip() for line in file.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        return _quote(lines[-1]) if lines else ""

    def _explain(self, exc: BaseException) -> str:
        """One line for an exception from the SDK, its transport or the process."""
        leaves = _leaves(exc)
        exc = leaves[0] if leaves else exc
        if isinstance(exc, McpServerError):
            return str(exc)
        tail = self._stderr_tail()
        name = type(exc).__name__
        text = str(exc).strip()
        if (name == "MCPError" and "closed" in text.lower()) or isinstance(exc, anyio.EndOfStream):
            return f"exited before it was ready{': ' + tail if tail else ''}"
        if name in ("ConnectError", "ConnectTimeout"):
            return "nothing answers there (connection refused)"
        if tail:
            return f"{_quote(text or name)} (stderr: {tail})"
        return _quote(f"{name}: {text}" if text else name)


SDK_MODULES = ("mcp", "mcp.client.stdio", "mcp.client.streamable_http", "mcp.shared._httpx_utils")


async def load_sdk() -> None:
    """Import the SDK in a worker thread the first time: the agent's loop keeps running (the
    import takes a second or more), and a server's start-up timeout does not count it."""
    if all(name in sys.modules for name in SDK_MODULES):
        return

    def load() -> None:
        for name in SDK_MODULES:
            importlib.import_module(name)

    await anyio.to_thread.run_sync(load)


def _leaves(exc: BaseException) -> list[BaseException]:
    """The innermost exceptions of (nested) exception groups, in order."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _malformed_text(exc: Exception) -> str:
    """What a server sent that is not MCP, quoted (a parse error carries the line it read)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors()
        except Exception:
            found = []
        if found and isinstance(found[0].get("input"), str):
            return repr(_quote(found[0]["input"]))
    return _quote(str(exc))


def _is_http_failure(exc: BaseException) -> bool:
    return any(type(c).__module__.startswith(("httpx", "httpcore")) for c in type(exc).__mro__)


def _quote(text: str) -> str:
    return one_line(redact(text), 200)


async def _all_tools(client: Client) -> list[McpToolInfo]:
    tools: list[McpToolInfo] = []
    cursor: str | None = None
    for _ in range(100):  # a paginator that never ends must not hang the start
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def result_text(tool: str, result: CallToolResult) -> str:
    """What the model reads of a tool's result: its text, a line for each non-text block, and the
    structured result when there is no text. An error result raises McpToolError."""
    import json

    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "?")
        if kind == "text":
            parts.append(block.text)  # type: ignore[union-attr]
        elif kind in ("image", "audio"):
            size = len(getattr(block, "data", "")) * 3 // 4
            parts.append(f"[{kind}: {getattr(block, 'mime_type', '?')}, about {size:,} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource: {getattr(block, 'uri', '?')}]")
        elif kind == "resource":
            inner = getattr(block, "resource", None)
            text = getattr(inner, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource: {getattr(inner, 'uri', '?')}]")
        else:
            parts.append(f"[{kind} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(parts)
    if result.is_error:
        raise McpToolError(_quote(text) or f"{tool} failed and gave no reason")
    return text or "done (no output)"
