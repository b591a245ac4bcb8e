"""A small MCP server for notebook 08, written with the official SDK's server API.

Run it as ``python weather_server.py`` (stdio) or ``python weather_server.py http PORT``
(streamable HTTP on 127.0.0.1). The weather is made up.
"""

import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("weather", log_level="ERROR")
CITIES = {"Paris": (18, "cloudy"), "Rome": (24, "sunny"), "Oslo": (9, "rain")}
cancelled: list[str] = []


@server.tool()
def current(city: str) -> str:
    """The weather in a city right now."""
    temperature, sky = CITIES.get(city, (15, "fair"))
    return f"{city}: {temperature} C, {sky}"


@server.tool()
async def forecast(city: str, days: int, ctx: Context) -> str:
    """A day-by-day forecast; slow (it runs a weather model), and reports its progress."""
    temperature, sky = CITIES.get(city, (15, "fair"))
    lines = []
    try:
        for day in range(1, days + 1):
            await anyio.sleep(0.6)  # the weather model at work
            lines.append(f"day {day}: {temperature + day % 3} C, {sky}")
            await ctx.report_progress(day, days, f"day {day} of {days} computed")
    except anyio.get_cancelled_exc_class():
        cancelled.append(f"forecast({city}, {days}) after {len(lines)} days")
        raise
    return "; ".join(lines)


@server.tool()
def cancelled_calls() -> str:
    """The calls this server was asked to cancel, and how far each had got."""
    return "; ".join(cancelled) or "none"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
