"""The notebook's MCP servers: the ones its config files name plus those added with ``%mcp add``.

They belong to the notebook, not to one agent: a new agent (after ``%cancel``) gets the same
servers, started afresh on first use. Methods run on the kernel's main thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..mcp.config import McpConfigError, ServerConfig, config_files, load_config_files, server_config
from . import paths

if TYPE_CHECKING:
    from ..mcp import McpServers
    from .session import NotebookSession


class NotebookMcp:
    def __init__(self, session: NotebookSession) -> None:
        self.session = session
        self.added: dict[str, ServerConfig] = {}
        self.removed: set[str] = set()
        self.file_error: str | None = None

    def folder(self) -> Path:
        return Path(paths.notebook_path(self.session.shell.user_ns)).parent

    def configs(self) -> list[ServerConfig]:
        """Every server this notebook may use; a broken config file is reported, not fatal."""
        self.file_error = None
        try:
            found = {c.name: c for c in load_config_files(config_files(self.folder()))}
        except McpConfigError as exc:
            self.file_error = str(exc)
            found = {}
        found.update(self.added)
        return [c for name, c in found.items() if name not in self.removed]

    def attach(self, servers: McpServers) -> None:
        """Let a new agent's servers ask the user, as ``run_python`` does (agent loop)."""
        servers.approver = self.session.code.ask

    def add(self, name: str, target: list[str], options: dict[str, Any]) -> str:
        entry: dict[str, Any] = dict(options)
        if len(target) == 1 and target[0].startswith(("http://", "https://")):
            entry["url"] = target[0]
        else:
            entry["command"], entry["args"] = target[0], target[1:]
        config = server_config(name, entry, source="%mcp add")
        assert config is not None
        self.added[name] = config
        self.removed.discard(name)

        def go() -> None:
            agent = self.session.agent
            if agent is not None and agent.status == "running":
                agent.mcp.add(config)

        if self.session.loop.running:
            self.session.loop.call(go)
        return f"added MCP server {name!r} ({config.transport}: {config.target}); it starts on first use"

    def remove(self, name: str) -> str:
        known = {c.name for c in self.configs()}
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise McpConfigError(f"no MCP server named {name!r}; servers: {listed}")
        self.added.pop(name, None)
        self.removed.add(name)

        async def go() -> None:
            agent = self.session.agent
            if agent is not None and name in agent.mcp.servers:
                await agent.mcp.remove(name)

        if self.session.loop.running:
            self.session.loop.run(go)
        return f"removed MCP server {name!r} (stopped, its tools are gone)"

    def start(self, timeout: float) -> list[tuple[str, str, str, str]]:
        """Start the agent (if need be) and the servers not running; the servers' table."""

        async def go() -> list[tuple[str, str, str, str]]:
            agent = await self.session._ensure_agent()
            await agent.start_mcp()
            return agent.mcp.table()

        return self.session.loop.run(go, timeout=timeout)

    def listing(self, timeout: float) -> str:
        """Start the servers that are not running (a listing is a use) and show them."""
        if not self.configs():
            where = ", ".join(str(p) for p in config_files(self.folder()))
            text = (
                "no MCP servers: add one with %mcp add NAME -- COMMAND ARGS... or %mcp add NAME URL, "
                f"or in {where}"
            )
            return text + (f"\n{self.file_error}" if self.file_error else "")

        rows = self.start(timeout)
        lines = []
        for name, target, state, tools in rows:
            lines.append(f"{name}  {target}\n    {state}\n    tools: {tools}")
        if self.file_error:
            lines.append(self.file_error)
        return "\n".join(lines)
