"""The travel scenario from the paper: a quick question is answered while a slow tool runs."""

from __future__ import annotations

from ipyagent import Agent, State
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock
from support.travel import get_weather, plan_itinerary

TRAVEL_SCRIPT = [
    {
        "delay": 0.5,
        "text": "I'll plan your three days in Paris; that takes a while.",
        "tool_calls": [{"name": "plan_itinerary", "arguments": {"city": "Paris", "days": 3}}],
    },
    {
        "delay": 0.5,
        "text": "Let me check.",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
    },
    {"delay": 0.5, "text": "It is sunny in Paris, 21 degrees."},
    {"delay": 0.5, "text": "Your itinerary is ready: Louvre, Montmartre, Versailles."},
]


def summary(agent: Agent) -> list[tuple[str, str]]:
    return [(e.kind, e.name or e.source or e.text[:24]) for e in agent.ledger if e.kind != "system"]


async def test_weather_answered_before_itinerary_finishes() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(TRAVEL_SCRIPT, clock)
        async with Agent(backend, tools=[plan_itinerary, get_weather], clock=clock) as agent:
            await agent.send("Plan me 3 days in Paris")
            await agent.send("What's the weather there now?")
            await agent.settled()

            assert agent.state is State.IDLE
            assert summary(agent) == [
                ("user", "api"),
                ("assistant", "I'll plan your three day"),
                ("tool_call", "plan_itinerary"),
                ("tool_result", "plan_itinerary"),
                ("user", "api"),
                ("assistant", "Let me check."),
                ("tool_call", "get_weather"),
                ("tool_result", "get_weather"),
                ("notification", "get_weather"),
                ("assistant", "It is sunny in Paris, 21"),
                ("notification", "plan_itinerary"),
                ("assistant", "Your itinerary is ready:"),
            ]
            entries = list(agent.ledger)
            weather_answer = next(e for e in entries if e.text.startswith("It is sunny"))
            itinerary_result = next(
                e for e in entries if e.kind == "notification" and e.name == "plan_itinerary"
            )
            # The weather answer lands about 2.5 s in; the itinerary's result only after 60 s.
            assert weather_answer.time - clock.epoch < 3.0
            assert itinerary_result.time - clock.epoch >= 60.0
            assert itinerary_result.text == "3 days in Paris: Louvre, Montmartre, Versailles"
