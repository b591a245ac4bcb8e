"""``%mcp``: the notebook's MCP servers — list them (with state and tools), add, remove."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .options import argument, help_text, kwds, magic_options, parse_words, seconds

if TYPE_CHECKING:
    from ..kernel.session import NotebookSession

USAGE = """\
mcp                                       the servers: state and tools
       %%mcp add NAME [OPTIONS] -- COMMAND ARGS...  a server the agent starts (stdio)
       %%mcp add NAME [OPTIONS] URL               a streamable HTTP server
       %%mcp remove NAME                          stop a server and drop its tools"""
LIST_TIMEOUT = 120.0


def key_value(text: str) -> tuple[str, str]:
    """An argparse ``type``: ``KEY=VALUE``."""
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text!r}")
    return key, value


@magics_class
class McpMagics(Magics):
    """``%mcp``."""

    def __init__(self, shell: Any, session: Callable[[], NotebookSession]) -> None:
        super().__init__(shell)
        self._session = session

    @line_magic
    @magic_options(
        kwds(usage=USAGE),
        argument(
            "target",
            nargs=argparse.REMAINDER,
            metavar="-- COMMAND ARGS... | URL",
            help="the command that starts a stdio server, or a streamable HTTP server's URL",
        ),
        argument(
            "--env",
            action="append",
            type=key_value,
            metavar="KEY=VALUE",
            help="(repeatable) an environment variable for the server; it gets only a minimal "
            "environment (PATH, HOME, ...) plus these",
        ),
        argument(
            "--header",
            action="append",
            type=key_value,
            metavar="KEY=VALUE",
            help="(repeatable) an HTTP header (e.g. Authorization=Bearer ...)",
        ),
        argument("--timeout", type=seconds, metavar="S", help="seconds a call may take (300)"),
        argument(
            "--startup-timeout", type=seconds, metavar="S", help="seconds the server may take to start (30)"
        ),
        argument("--approve", action="store_true", help="each call waits for %%approve"),
    )
    def mcp(self, line: str) -> None:
        """The notebook's MCP servers: with no arguments, their state and tools (starting them);
        add NAME starts one and gives its tools to the agent; remove NAME stops it."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%mcp: {exc}") from None
        session = self._session()
        if not words:
            print(session.mcp.listing(LIST_TIMEOUT))
        elif words[0] in ("--help", "-h", "help"):
            print(help_text(McpMagics.mcp))
        elif words[0] == "add":
            name, target, options = self._add_options(words[1:])
            print(session.mcp.add(name, target, options))
        elif words[0] == "remove":
            if len(words) != 2:
                raise UsageError("usage: %mcp remove NAME")
            print(session.mcp.remove(words[1]))
        else:
            raise UsageError(f"%mcp: unknown command {words[0]!r}; use add, remove, or nothing to list")

    def _add_options(self, words: list[str]) -> tuple[str, list[str], dict[str, Any]]:
        """``NAME [OPTIONS] -- COMMAND ARGS...`` or ``NAME [OPTIONS] URL`` -> (name, target, settings).
        NAME is the first word (argparse would hand everything after a positional to the target)."""
        if not words or words[0].startswith("-"):
            raise UsageError("usage: %mcp add NAME -- COMMAND ARGS...  or  %mcp add NAME URL")
        name = words[0]
        args = parse_words(McpMagics.mcp, words[1:], where="mcp add", hint="see %mcp --help")
        target = args.target[1:] if args.target[:1] == ["--"] else args.target
        if not target:
            raise UsageError(f"%mcp add {name}: give a command after -- or a URL")
        options: dict[str, Any] = {}
        if args.approve:
            options["require_approval"] = True
        for key in ("timeout", "startup_timeout"):
            if getattr(args, key) is not None:
                options[key] = getattr(args, key)
        if args.env:
            options["env"] = dict(args.env)
        if args.header:
            options["headers"] = dict(args.header)
        return name, target, options
