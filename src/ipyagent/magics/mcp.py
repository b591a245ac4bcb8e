"""``%mcp``: the notebook's MCP servers — list them (with state and tools), add, remove."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .magics import one_line_errors

if TYPE_CHECKING:
    from ..kernel.session import NotebookSession

USAGE = """\
%mcp                                  the MCP servers: state, and their tools (starts them)
%mcp add NAME [OPTIONS] -- COMMAND ARGS...   a server the agent starts (stdio)
%mcp add NAME [OPTIONS] URL           a streamable HTTP server
    --env KEY=VALUE    (repeatable) an environment variable for the server; it gets only a
                       minimal environment (PATH, HOME, ...) plus these
    --header K=V       (repeatable) an HTTP header (e.g. Authorization=Bearer ...)
    --timeout S        seconds a call may take (default 300)
    --startup-timeout S  seconds the server may take to start (default 30)
    --approve          each call waits for %approve
%mcp remove NAME                      stop a server and drop its tools
"""
LIST_TIMEOUT = 120.0


def parse_add(words: list[str]) -> tuple[str, list[str], dict[str, Any]]:
    """``NAME [OPTIONS] -- COMMAND ARGS...`` or ``NAME [OPTIONS] URL`` -> (name, target, settings)."""
    if not words:
        raise UsageError("usage: %mcp add NAME -- COMMAND ARGS...  or  %mcp add NAME URL")
    name, rest = words[0], words[1:]
    options: dict[str, Any] = {}
    env: dict[str, str] = {}
    headers: dict[str, str] = {}
    while rest and rest[0].startswith("--") and rest[0] != "--":
        flag, rest = rest[0], rest[1:]
        if flag == "--approve":
            options["require_approval"] = True
            continue
        if not rest:
            raise UsageError(f"%mcp add: {flag} needs a value")
        value, rest = rest[0], rest[1:]
        if flag in ("--env", "--header"):
            key, eq, val = value.partition("=")
            if not eq or not key:
                raise UsageError(f"%mcp add: {flag} takes KEY=VALUE, got {value!r}")
            (env if flag == "--env" else headers)[key] = val
        elif flag in ("--timeout", "--startup-timeout"):
            try:
                options[flag[2:].replace("-", "_")] = float(value)
            except ValueError:
                raise UsageError(f"%mcp add: {flag} takes seconds, got {value!r}") from None
        else:
            raise UsageError(f"%mcp add: unknown option {flag}; see %mcp --help")
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest:
        raise UsageError(f"%mcp add {name}: give a command after -- or a URL")
    if env:
        options["env"] = env
    if headers:
        options["headers"] = headers
    return name, rest, options


@magics_class
class McpMagics(Magics):
    """``%mcp``."""

    def __init__(self, shell: Any, session: Callable[[], NotebookSession]) -> None:
        super().__init__(shell)
        self._session = session

    @line_magic
    @one_line_errors
    def mcp(self, line: str) -> None:
        """The notebook's MCP servers. See ``%mcp --help``."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%mcp: {exc}") from None
        session = self._session()
        if not words:
            print(session.mcp.listing(LIST_TIMEOUT))
        elif words[0] in ("--help", "-h", "help"):
            print(USAGE)
        elif words[0] == "add":
            name, target, options = parse_add(words[1:])
            print(session.mcp.add(name, target, options))
        elif words[0] == "remove":
            if len(words) != 2:
                raise UsageError("usage: %mcp remove NAME")
            print(session.mcp.remove(words[1]))
        else:
            raise UsageError(f"%mcp: unknown command {words[0]!r}; use add, remove, or nothing to list")
