"""How the local backend decides whether to offer a tool (no model needed)."""

from __future__ import annotations

from ipyagent import tool
from ipyagent.dispatch.backends.local import tool_candidates
from ipyagent.ledger import Ledger
from ipyagent.ledger.render import render_chatml
from ipyagent.ledger.render.context import Context
from support.travel import book_table, get_weather, plan_itinerary

TOOLS = [get_weather.spec, plan_itinerary.spec, book_table.spec]


def names(request: str) -> list[str]:
    return [t.name for t in tool_candidates(request, TOOLS)]


def test_a_request_that_names_what_a_tool_does_offers_that_tool() -> None:
    assert names("What's the weather in Paris?") == ["get_weather"]
    assert names("I need an itinerary for Lisbon") == ["plan_itinerary"]
    assert names("Planning a trip to Rome") == ["plan_itinerary"]
    assert names("Book a table for four") == ["book_table"]


def test_small_talk_offers_no_tool() -> None:
    assert names("Hello! How are you?") == []
    assert names("Thanks, that was helpful.") == []
    assert names("What is 7 times 8?") == []


def test_the_best_matching_tool_comes_first() -> None:
    assert names("weather for my itinerary in a city, over three days")[0] == "plan_itinerary"


def test_status_block_can_move_before_the_last_message() -> None:
    ledger = Ledger("main")
    ledger.append("system", "Be brief.", time=0.0)
    ledger.append("user", "hello", time=0.0)
    context = Context(entries=list(ledger), now=0.0)
    default = render_chatml(context)
    moved = render_chatml(context, status_before_last=True)
    assert default.index("<|im_start|>user") < default.index("Now:")
    assert moved.index("Now:") < moved.index("<|im_start|>user")
    assert sorted(default) == sorted(moved)  # the same blocks, in another order


def test_a_common_word_in_a_description_is_not_enough() -> None:
    @tool
    async def fork(name: str, task: str) -> str:
        "Start a sub-agent that works on a task; its answer arrives as a notification."
        return ""

    specs = [fork.spec, get_weather.spec]
    assert tool_candidates("What is the capital of France? Answer in one sentence.", specs) == []
    assert [t.name for t in tool_candidates("Fork a helper for this", specs)] == ["fork"]
