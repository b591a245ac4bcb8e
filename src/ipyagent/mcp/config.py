"""Which MCP servers an agent may use: the Python form, the ``{"mcpServers": {...}}`` JSON file,
and where that file is looked for.

A server is either a command (stdio) or a URL (streamable HTTP)::

    {"files": {"command": "uvx", "args": ["mcp-server-filesystem", "."], "env": {"KEY": "..."}},
     "search": {"url": "http://127.0.0.1:8123/mcp", "headers": {"Authorization": "Bearer ..."}}}

Optional per server: ``cwd``, ``timeout`` (seconds per call, default 300), ``startup_timeout``
(seconds to start and answer, default 30), ``require_approval`` (each call waits for the user),
``disabled``. camelCase spellings (``requireApproval``, ``startupTimeout``) are accepted too, as
other MCP clients write them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import IpyagentError

DEFAULT_CALL_TIMEOUT = 300.0
DEFAULT_STARTUP_TIMEOUT = 30.0
# In a notebook's folder, then in Jupyter's config dir (`jupyter --config-dir`); the first file
# that names a server wins.
NOTEBOOK_FILES = ("mcp.json", ".mcp.json")
JUPYTER_FILES = ("mcp.json", "mcp_settings.json")
SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

Transport = Literal["stdio", "http"]

_KNOWN = {
    "command": "command",
    "args": "args",
    "env": "env",
    "cwd": "cwd",
    "url": "url",
    "headers": "headers",
    "type": "type",
    "transport": "type",
    "timeout": "timeout",
    "startup_timeout": "startup_timeout",
    "startupTimeout": "startup_timeout",
    "require_approval": "require_approval",
    "requireApproval": "require_approval",
    "disabled": "disabled",
}
_HTTP_TYPES = {"http", "streamable-http", "streamable_http", "streamableHttp", "streamablehttp"}


class McpConfigError(IpyagentError):
    """Raised when an MCP server's configuration is not usable; says which server and field."""


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server an agent may use. Exactly one of ``command`` and ``url`` is set."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float | None = DEFAULT_CALL_TIMEOUT
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    require_approval: bool = False
    source: str = "python"  # where it was configured: python, %mcp add, or a file's path

    @property
    def transport(self) -> Transport:
        return "http" if self.url is not None else "stdio"

    @property
    def target(self) -> str:
        """What it runs or reaches, for people (never the env or header values)."""
        if self.url is not None:
            return self.url
        return shlex.join([self.command or "", *self.args])


def parse_servers(spec: Any, *, source: str = "python") -> list[ServerConfig]:
    """Servers from ``{"name": {...}}`` or ``{"mcpServers": {"name": {...}}}``; entries may also
    be :class:`ServerConfig` s or a URL string. Disabled ones are left out."""
    if isinstance(spec, ServerConfig):
        return [spec]
    if isinstance(spec, Iterable) and not isinstance(spec, str | bytes | Mapping):
        out: list[ServerConfig] = []
        for item in spec:
            if not isinstance(item, ServerConfig):
                raise McpConfigError(f"mcp: expected ServerConfig items, got {type(item).__name__}")
            out.append(item)
        return out
    if not isinstance(spec, Mapping):
        raise McpConfigError(
            f"mcp: expected a dict of servers like {{'files': {{'command': ...}}}}, got {type(spec).__name__}"
        )
    if "mcpServers" in spec:
        spec = spec["mcpServers"]
        if not isinstance(spec, Mapping):
            raise McpConfigError(f"mcp ({source}): 'mcpServers' must map server names to settings")
    servers = []
    for name, entry in spec.items():
        config = server_config(str(name), entry, source=source)
        if config is not None:
            servers.append(config)
    return servers


def server_config(name: str, entry: Any, *, source: str = "python") -> ServerConfig | None:
    """One server from its settings; ``None`` if it is disabled."""
    where = f"MCP server {name!r} ({source})"
    if not SERVER_NAME.match(name):
        raise McpConfigError(f"{where}: a server name is 1-40 letters, digits, '_' or '-'")
    if isinstance(entry, ServerConfig):
        return entry
    if isinstance(entry, str):
        entry = {"url": entry} if entry.startswith(("http://", "https://")) else {"command": entry}
    if not isinstance(entry, Mapping):
        raise McpConfigError(f"{where}: settings must be a dict with 'command' or 'url'")
    unknown = sorted(str(k) for k in entry if k not in _KNOWN)
    if unknown:
        raise McpConfigError(f"{where}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(_KNOWN))}")
    values = {_KNOWN[k]: v for k, v in entry.items()}
    if values.pop("disabled", False) is True:
        return None
    kind = values.pop("type", None)
    command, url = values.get("command"), values.get("url")
    if (command is None) == (url is None):
        raise McpConfigError(f"{where}: give either 'command' (a program to run) or 'url' (an HTTP server)")
    if kind is not None and kind != "stdio" and kind not in _HTTP_TYPES:
        raise McpConfigError(f"{where}: unknown type {kind!r}; use 'stdio' or 'http' (streamable HTTP)")
    if kind == "stdio" and url is not None:
        raise McpConfigError(f"{where}: type 'stdio' needs a 'command', not a 'url'")
    if kind in _HTTP_TYPES and command is not None:
        raise McpConfigError(f"{where}: type {kind!r} needs a 'url', not a 'command'")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise McpConfigError(f"{where}: 'command' must be a non-empty string")
        if values.get("headers"):
            raise McpConfigError(f"{where}: 'headers' are for HTTP servers (with 'url')")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise McpConfigError(f"{where}: 'url' must start with http:// or https://")
        for key in ("args", "env", "cwd"):
            if values.get(key):
                raise McpConfigError(f"{where}: {key!r} is for servers started by a command")
    args = values.get("args", [])
    if not isinstance(args, list | tuple) or not all(isinstance(a, str | int | float) for a in args):
        raise McpConfigError(f"{where}: 'args' must be a list of strings")
    env = _strings(values.get("env", {}), where, "env")
    headers = _strings(values.get("headers", {}), where, "headers")
    cwd = values.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise McpConfigError(f"{where}: 'cwd' must be a path string")
    return ServerConfig(
        name=name,
        command=command,
        args=tuple(str(a) for a in args),
        env=env,
        cwd=cwd,
        url=url,
        headers=headers,
        timeout=_seconds(values.get("timeout", DEFAULT_CALL_TIMEOUT), where, "timeout", allow_none=True),
        startup_timeout=_seconds(
            values.get("startup_timeout", DEFAULT_STARTUP_TIMEOUT), where, "startup_timeout"
        )
        or DEFAULT_STARTUP_TIMEOUT,
        require_approval=_flag(values.get("require_approval", False), where),
        source=source,
    )


def _strings(value: Any, where: str, key: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise McpConfigError(f"{where}: {key!r} must map names to strings")
    bad = [k for k, v in value.items() if not isinstance(v, str | int | float) or isinstance(v, bool)]
    if bad:
        raise McpConfigError(f"{where}: {key}[{bad[0]!r}] must be a string")
    return {k: str(v) for k, v in value.items()}


def _seconds(value: Any, where: str, key: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise McpConfigError(f"{where}: {key!r} must be a positive number of seconds")
    return float(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise McpConfigError(f"{where}: 'require_approval' must be true or false")
    return value


def config_files(notebook_folder: Path | None = None) -> list[Path]:
    """Where the ``{"mcpServers": ...}`` files are looked for, in order of precedence:
    ``mcp.json`` or ``.mcp.json`` in the notebook's folder, then ``mcp.json`` or
    ``mcp_settings.json`` in Jupyter's config dir. ``$IPYAGENT_MCP_CONFIG`` names one more file,
    read first."""
    candidates: list[Path] = []
    explicit = os.environ.get("IPYAGENT_MCP_CONFIG")
    if explicit:
        candidates.append(Path(explicit).expanduser())
    folder = notebook_folder or Path.cwd()
    candidates += [folder / n for n in NOTEBOOK_FILES]
    try:
        from jupyter_core.paths import jupyter_config_dir

        candidates += [Path(jupyter_config_dir()) / n for n in JUPYTER_FILES]
    except ImportError:  # outside Jupyter: only the notebook's folder
        pass
    return candidates


def load_config_files(paths: Iterable[Path]) -> list[ServerConfig]:
    """The servers the existing files name (the first file naming a server wins)."""
    found: dict[str, ServerConfig] = {}
    for path in paths:
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise McpConfigError(f"{path}: cannot read it: {exc}") from None
        except json.JSONDecodeError as exc:
            raise McpConfigError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(data, Mapping) or "mcpServers" not in data:
            raise McpConfigError(f'{path}: expected {{"mcpServers": {{"NAME": {{...}}}}}}')
        for config in parse_servers(data, source=str(path)):
            found.setdefault(config.name, config)
    return list(found.values())
