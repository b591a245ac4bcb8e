"""Tools made to measure: a lookup that takes a given time on the agent's clock, a tool that
always fails with a given message (both take a ``query``), and a weather report that notes
each city it was asked about."""

from __future__ import annotations

from ipyagent import Tool, current_clock, tool


def lookup_tool(seconds: float, *, name: str = "lookup", description: str | None = None) -> Tool:
    """Answers ``found QUERY`` after ``seconds``."""

    async def lookup(query: str) -> str:
        await current_clock().sleep(seconds)
        return f"found {query}"

    return tool(lookup, name=name, description=description or f"Look something up (takes {seconds:g} s).")


def failing_tool(message: str, *, name: str = "broken") -> Tool:
    """Always raises ``RuntimeError(message)``; ``{query}`` in ``message`` is the query."""

    async def broken(query: str) -> str:
        raise RuntimeError(message.format(query=query))

    return tool(broken, name=name, description="Always fails.")


def weather_tool(asked: list[str], report: str = "sunny, 21 C") -> Tool:
    """``get_weather(city)``: answers ``CITY: report`` at once and appends ``city`` to ``asked``."""

    async def get_weather(city: str) -> str:
        asked.append(city)
        return f"{city}: {report}"

    return tool(get_weather, description="Current weather for a city.")
