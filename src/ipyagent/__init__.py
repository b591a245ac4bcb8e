"""ipyagent: a Jupyter-native, real-time, asynchronous agent.

from ipyagent import Agent, tool

Names are imported on first use, so that loading the magics (``%load_ext ipyagent``, the
ipyagent kernel) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agents import Agent
    from .clock import Clock, RealClock, current_clock
    from .dispatch.backends.base import (
        Backend,
        Chunk,
        StatusChunk,
        TextChunk,
        ToolCallChunk,
        UsageChunk,
    )
    from .dispatch.tasks import BackgroundTask, Progress, current_task, progress
    from .dispatch.tools import BaseTool, Tool, tool
    from .errors import IpyagentError
    from .events import ToolCallRequest, Usage
    from .fsm import State
    from .ledger import Entry, Ledger

_WHERE = {
    "Agent": ".agents",
    "Backend": ".dispatch.backends.base",
    "BackgroundTask": ".dispatch.tasks",
    "BaseTool": ".dispatch.tools",
    "Chunk": ".dispatch.backends.base",
    "Progress": ".dispatch.tasks",
    "StatusChunk": ".dispatch.backends.base",
    "TextChunk": ".dispatch.backends.base",
    "ToolCallChunk": ".dispatch.backends.base",
    "ToolCallRequest": ".events",
    "Usage": ".events",
    "UsageChunk": ".dispatch.backends.base",
    "current_task": ".dispatch.tasks",
    "progress": ".dispatch.tasks",
    "Clock": ".clock",
    "Entry": ".ledger",
    "IpyagentError": ".errors",
    "Ledger": ".ledger",
    "RealClock": ".clock",
    "State": ".fsm",
    "Tool": ".dispatch.tools",
    "current_clock": ".clock",
    "tool": ".dispatch.tools",
}

__all__ = [
    "Agent",
    "Backend",
    "BackgroundTask",
    "BaseTool",
    "Chunk",
    "Clock",
    "Entry",
    "IpyagentError",
    "Ledger",
    "Progress",
    "RealClock",
    "State",
    "StatusChunk",
    "TextChunk",
    "Tool",
    "ToolCallChunk",
    "ToolCallRequest",
    "Usage",
    "UsageChunk",
    "current_clock",
    "current_task",
    "load_ipython_extension",
    "progress",
    "tool",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ipyagent' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ipyagent``: the agent magics in any IPython kernel."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
