"""Tools that fail the way real ones do, for the tests of what the agent makes of failures."""

from __future__ import annotations

from ipyagent import current_clock, tool


@tool
async def explode(city: str) -> str:
    "Always fails."
    raise ValueError(f"no such city: {city}")


@tool(timeout=5)
async def hang() -> str:
    "Never finishes on its own."
    await current_clock().sleep(3600)
    return "unreachable"
