"""The travel tools of the paper's example: a slow itinerary, a quick weather report and a table
booking. They wait on the agent's clock, so on a virtual clock they take no real time."""

from __future__ import annotations

from typing import Literal

from ipyagent import current_clock, tool


@tool
async def plan_itinerary(city: str, days: int) -> str:
    "Plan a detailed day-by-day travel itinerary for a city."
    await current_clock().sleep(60)
    return f"{days} days in {city}: Louvre, Montmartre, Versailles"


@tool
async def get_weather(city: str) -> str:
    "Current weather for a city."
    await current_clock().sleep(1)
    return f"{city}: sunny, 21 C"


@tool
async def book_table(restaurant: str, people: int, time_of_day: Literal["lunch", "dinner"]) -> str:
    "Book a table at a restaurant."
    return "booked"
