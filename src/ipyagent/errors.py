"""The project's exceptions. Every one derives from :class:`IpyagentError`.

Exceptions carry structured fields so callers can react without parsing text, and their
``str()`` is a single line that says what went wrong and what to do about it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

# What kind of failure a model backend met: callers decide from it (and ``is_permanent``) what
# to tell the user and whether to retry.
ErrorCategory = Literal[
    "auth", "connection", "model", "protocol", "rate_limit", "request", "script", "server", "setup", "timeout"
]


class IpyagentError(Exception):
    """Raised for any failure that ipyagent itself detects and can explain."""


class ScriptError(IpyagentError):
    """Raised when a scripted-model file cannot be used: unreadable, not JSON, or a bad turn."""

    def __init__(self, path: str, reason: str, turn: int | None = None) -> None:
        self.path = path
        self.turn = turn
        self.reason = reason
        where = one_line(path, 120) if turn is None else f"{one_line(path, 120)}, turn {turn}"
        super().__init__(f"bad model script {where}: {one_line(reason)}")


class ToolDefinitionError(IpyagentError):
    """Raised when a Python callable cannot be turned into a tool (for example an untyped parameter)."""


class ToolCallError(IpyagentError):
    """Raised when a model's tool call cannot be started: unknown tool or arguments that fail the schema.

    The dispatcher never lets it escape: it becomes the call's result and a notification.
    """

    def __init__(self, tool: str, reason: str) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(f"tool call {tool!r} rejected: {reason}")


class ModelError(IpyagentError):
    """Raised by a model backend when a generation fails.

    ``is_permanent`` tells whether retrying the same request can help (a bad key cannot,
    a rate limit can).
    """

    def __init__(self, message: str, *, category: ErrorCategory = "model", is_permanent: bool = True) -> None:
        self.category = category
        self.is_permanent = is_permanent
        super().__init__(message)


class LedgerError(IpyagentError):
    """Raised when a ledger file cannot be opened or does not hold the ledger asked for."""


class AgentError(IpyagentError):
    """Raised when an agent is used in a way it cannot honour (for example sending to a closed agent)."""


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one line for a user to read: whitespace runs (newlines too) become one space,
    other control characters are shown escaped, and anything past ``limit`` characters is cut."""
    # Only the head can show; looking at a bounded part keeps huge texts cheap.
    head = text[: limit * 8 + 64]
    flat = " ".join(head.split())
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)
    if len(flat) <= limit and len(head) == len(text):
        return flat
    return flat[: limit - 1] + "…"


def read_user_file(path: str | Path, error: Callable[[str, str], Exception]) -> str:
    """The text of a file the user named (a script, a suite), or ``error(path, what is wrong)``
    raised: not found, unreadable or not UTF-8, or a name no file can have."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(source, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(source, f"cannot read it: {exc}") from None
    except ValueError as exc:  # a path no file can have (a NUL character)
        raise error(source, f"not a usable file name: {exc}") from None
