"""The MCP servers of one agent (shared by its sub-agents) and the agent tools they offer.

Servers start on first use — the first generation that needs the agent's tools, a ``%mcp`` or
``%tools`` listing, or a call — never when the kernel starts, and stop with the agent. Each call
is an ordinary background task: the model hears "started", the result arrives as a
notification, progress updates the task, and cancelling the task sends the server an MCP
cancellation.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ..clock import Clock
from ..dispatch.tools import BaseTool
from ..errors import IpyagentError, ToolDefinitionError, one_line
from .config import ServerConfig, parse_servers
from .connection import McpServer, McpServerError

if TYPE_CHECKING:
    from ..dispatch.tasks import BackgroundTask, TaskRunner

log = logging.getLogger(__name__)

# Asks the user whether a call may run: (tool name, what it will do) -> allowed.
Approver = Callable[[str, str], Awaitable[bool]]
# Told once per fault that no task carries (a server that failed to start): one line.
FaultSink = Callable[[str, str], None]
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")
MAX_TOOL_NAME = 64


@dataclass(frozen=True, eq=False)
class McpTool(BaseTool):
    """An agent tool that calls a tool on an MCP server. Its schema is the server's, as given."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    timeout: float | None
    server: str
    remote_name: str
    servers: McpServers = field(repr=False)

    def start(self, runner: TaskRunner, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        servers = self.servers
        started: list[BackgroundTask] = []

        def progress(text: str) -> None:
            runner.report_progress(started[0], text)

        async def work() -> str:
            return await servers.call(self, arguments, progress)

        task = runner.start(
            self.name, "tool", work, arguments=arguments, call_id=call_id, timeout=self.timeout
        )
        started.append(task)
        return task


class McpServers:
    """The MCP servers an agent may use, by name.

    Invariant: the sessions' tasks run in the task group of :meth:`run`, so they end with it —
    with the agent that runs it — and a server process never outlives its agent.
    """

    def __init__(self, servers: Iterable[ServerConfig], clock: Clock) -> None:
        self.clock = clock
        self.servers: dict[str, McpServer] = {}
        self.approver: Approver | None = None
        self.on_fault: FaultSink = lambda _server, _text: None
        self._tg: anyio.abc.TaskGroup | None = None
        self._running = anyio.Event()
        self._tools: dict[str, McpTool] = {}
        self._generation = 0  # bumped whenever the set of tools may have changed
        self._tools_key: tuple[int, frozenset[str]] | None = None  # what ``_tools`` was listed for
        # Servers that failed to start are tried again only after the user speaks again, so
        # a broken server does not restart on every generation it would otherwise trigger.
        self._turn = 0
        self._failed_turn: dict[str, int] = {}
        for config in servers:
            self.add(config)

    @classmethod
    def from_spec(cls, spec: Any, clock: Clock) -> McpServers:
        if isinstance(spec, McpServers):
            return spec
        return cls(parse_servers(spec) if spec is not None else [], clock)

    # --- configuration ------------------------------------------------------------------------

    def add(self, config: ServerConfig) -> None:
        """Add a server (it starts on first use); a server of the same name is replaced."""
        old = self.servers.get(config.name)
        self.servers[config.name] = McpServer(config, self.clock)
        self._failed_turn.pop(config.name, None)
        self._generation += 1
        if old is not None and self._tg is not None:
            self._tg.start_soon(old.stop)

    async def remove(self, name: str) -> None:
        """Stop a server and forget it and its tools."""
        server = self.servers.pop(name, None)
        if server is None:
            known = ", ".join(self.servers) or "none"
            raise IpyagentError(f"no MCP server named {name!r}; servers: {known}")
        self._generation += 1
        await server.stop()

    def new_turn(self) -> None:
        """The user spoke: servers that failed may be tried again."""
        self._turn += 1

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Hold the servers' sessions until cancelled (when the agent stops); then stop them all."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self._running.set()
                await anyio.sleep_forever()
        finally:
            self._tg = None
            self._running = anyio.Event()

    async def start_all(self) -> list[str]:
        """Start every server that is not running (in parallel); returns the one-line faults of
        those that could not start. A server that failed is retried only in a later turn."""
        if self._tg is None:
            await self._running.wait()  # run() was started with the agent and is about to begin
        faults: list[str] = []

        async def start(server: McpServer) -> None:
            try:
                await server.ensure_started(self._tg)  # type: ignore[arg-type]
            except McpServerError as exc:
                self._failed_turn[server.name] = self._turn
                faults.append(str(exc))
                self.on_fault(server.name, str(exc))
            finally:
                self._generation += 1

        due = [
            s
            for s in self.servers.values()
            if s.state != "ready" and self._failed_turn.get(s.name, -1) != self._turn
        ]
        if due:
            async with anyio.create_task_group() as tg:
                for server in due:
                    tg.start_soon(start, server)
        return faults

    async def stop_all(self) -> None:
        for server in list(self.servers.values()):
            await server.stop()

    # --- tools --------------------------------------------------------------------------------

    def tools(self, taken: Iterable[str] = ()) -> dict[str, McpTool]:
        """The agent tools of every server that has listed its tools, by agent tool name. A tool
        keeps its own name unless another server or a tool in ``taken`` has it too; then it is
        ``SERVER_TOOL``."""
        taken = frozenset(taken)
        if self._tools_key == (self._generation, taken):
            return self._tools
        counts: dict[str, int] = {}
        for server in self.servers.values():
            for info in server.tools:
                counts[info.name] = counts.get(info.name, 0) + 1
        tools: dict[str, McpTool] = {}
        for server in self.servers.values():
            for info in server.tools:
                name = _clean(info.name)
                if counts[info.name] > 1 or name in taken or name != info.name:
                    name = _clean(f"{server.name}_{info.name}")
                try:
                    tools[name] = self._tool(server, info, name)
                except ToolDefinitionError as exc:
                    log.warning("MCP server %r: skipped tool %r: %s", server.name, info.name, exc)
        self._tools, self._tools_key = tools, (self._generation, taken)
        return tools

    def _tool(self, server: McpServer, info: Any, name: str) -> McpTool:
        return McpTool(
            name,
            (info.description or info.title or info.name).strip(),
            dict(info.input_schema or {"type": "object"}),
            server.config.timeout,
            server.name,
            info.name,
            self,
        )

    async def call(self, tool: McpTool, arguments: dict[str, Any], report: Callable[[str], None]) -> str:
        """One call, as a background task's work: approval, (re)start, the call, progress."""
        server = self.servers.get(tool.server)
        if server is None:
            raise McpServerError(f"MCP server {tool.server!r} was removed; its tools are gone")
        if server.config.require_approval:
            await self._approve(tool, arguments)
        if server.state != "ready":
            if self._tg is None:
                raise McpServerError(f"MCP server {server.name!r}: the agent is not running")
            await server.ensure_started(self._tg)
            self._generation += 1

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            report(progress_text(progress, total, message))

        return await server.call(tool.remote_name, arguments, progress)

    async def _approve(self, tool: McpTool, arguments: Mapping[str, Any]) -> None:
        what = f"{tool.server}.{tool.remote_name}({json.dumps(dict(arguments), ensure_ascii=False)})"
        if self.approver is None:
            raise PermissionError(
                f"MCP server {tool.server!r} requires approval for each call and there is no one to "
                "approve it here (set agent.mcp.approver)"
            )
        if not await self.approver(tool.name, what):
            raise PermissionError(f"the user did not allow this call to {tool.server}.{tool.remote_name}")

    # --- for people ---------------------------------------------------------------------------

    def table(self) -> list[tuple[str, str, str, str]]:
        """``(name, transport and target, state, tools)`` per server."""
        rows = []
        by_server: dict[str, list[str]] = {}
        for name, t in self.tools().items():
            by_server.setdefault(t.server, []).append(name)
        for server in self.servers.values():
            config = server.config
            target = f"{config.transport}: {config.target}"
            if config.require_approval:
                target += " (each call needs %approve)"
            tools = ", ".join(by_server.get(server.name, [])) or (
                "(starts on first use)" if server.state == "stopped" else "-"
            )
            rows.append((server.name, target, server.describe(), tools))
        return rows


def progress_text(done: float, total: float | None, message: str | None) -> str:
    """An MCP progress notification as one short line: ``3/10: copying``."""
    fraction = f"{done:g}/{total:g}" if total else f"{done:g}"
    return f"{fraction}{': ' + one_line(message, 120) if message else ''}"


def _clean(name: str) -> str:
    return _TOOL_NAME.sub("_", name)[:MAX_TOOL_NAME] or "tool"
