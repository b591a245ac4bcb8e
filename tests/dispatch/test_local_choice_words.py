"""Which tools the local backend offers for a request (README: "the tools that share a word with
the user's request (their name, description or parameter names)"), in the forms people write:
a plural, a past tense, an -ing form of the tool's word is the same word; a short or common word
is not enough; and which results the ledger already holds. No model needed."""

from __future__ import annotations

import pytest

from ipyagent.dispatch.backends.local import tool_candidates
from ipyagent.dispatch.backends.local.choice import answered_tools
from ipyagent.ledger import Ledger
from ipyagent.ledger.render.context import Context, ToolSpec

NO_ARGUMENTS = {"type": "object", "properties": {}}


def offered(request: str, *tools: ToolSpec) -> list[str]:
    return [t.name for t in tool_candidates(request, tools)]


# (the word in the tool's name, the word as the user writes it)
FORMS = [
    ("note", "notes"),
    ("city", "cities"),
    ("query", "queries"),
    ("book", "booked"),
    ("plan", "planning"),
    ("plan", "planned"),
    ("call", "calling"),
    ("bill", "bills"),
    ("pass", "passed"),
    ("save", "saved"),
    ("write", "writing"),
    ("file", "files"),
    ("box", "boxes"),
    ("match", "matches"),
    ("class", "classes"),
    ("status", "statuses"),
    ("bus", "buses"),
    ("gas", "gases"),
    ("map", "maps"),
]


@pytest.mark.parametrize(("tool_word", "written"), FORMS)
def test_another_form_of_the_tools_word_offers_it(tool_word: str, written: str) -> None:
    tool = ToolSpec(f"open_{tool_word}", "Opens it.", NO_ARGUMENTS)
    assert offered(f"Show me the {written} now", tool) == [tool.name]
    assert offered(f"I want {tool_word}", ToolSpec(f"open_{written}", "Opens it.", NO_ARGUMENTS)) == [
        f"open_{written}"
    ]


def test_a_three_letter_word_counts_but_shorter_and_common_words_do_not() -> None:
    maps = ToolSpec("get_map", "A map of a place.", NO_ARGUMENTS)
    assert offered("a map of Lisbon, please", maps) == ["get_map"]
    health = ToolSpec("check_health", "Tell whether it is up and running.", NO_ARGUMENTS)
    # "is", "it", "up" are too short, "and" is common: only "running" is shared, one word.
    assert offered("Is it up and running?", health) == []


def test_two_words_of_the_description_or_parameter_names_offer_a_tool() -> None:
    lookup = ToolSpec(
        "lookup", "Find a book by its number", {"type": "object", "properties": {"isbn": {"type": "string"}}}
    )
    clock = ToolSpec("now", "The time of day.", {"type": "object"})  # no parameters at all
    assert offered("find the isbn 978-0", clock, lookup) == ["lookup"]  # a description word + a parameter
    assert offered("find this one", clock, lookup) == []  # one word is not enough
    # The description's last word and the first parameter name stay two words.
    define = ToolSpec(
        "define",
        "Look up a word in the dictionary",
        {"type": "object", "properties": {"word": {"type": "string"}}},
    )
    assert offered("dictionary entry please", define) == []
    assert offered("dictionary look-up", define) == ["define"]
    assert offered("this word in the dictionary", define) == ["define"]


def test_the_tool_sharing_most_comes_first_and_ties_keep_the_order_given() -> None:
    named = ToolSpec("send_report", "Mail it.", NO_ARGUMENTS)  # one word of its name
    described = ToolSpec("summary", "Write a weekly report of sales by region.", NO_ARGUMENTS)
    request = "the weekly sales report"  # three words of `described`, one of `named`'s name
    assert offered(request, named, described) == ["summary", "send_report"]
    twin = ToolSpec("report_now", "Mail it.", NO_ARGUMENTS)
    assert offered("the report", named, twin) == ["send_report", "report_now"]
    assert offered("the report", twin, named) == ["report_now", "send_report"]


def test_only_results_that_arrived_count_as_answered() -> None:
    ledger = Ledger("main")
    ledger.append("user", "look it up", time=0.0)
    ledger.append("notification", "slow_lookup: 42", time=1.0, source="tool_result", name="slow_lookup")
    ledger.append("notification", "bad arguments", time=1.1, source="tool_rejected", name="get_weather")
    ledger.append("notification", "the model failed", time=1.2, source="model_error", name="local")
    ledger.append("notification", "timed out", time=1.3, source="tool_timeout", name="book_table")
    ledger.append("user", "what did plan_itinerary say?", time=1.4, name="plan_itinerary")
    ledger.append("notification", "tick", time=1.5, source="timer")  # no tool named
    context = Context(entries=list(ledger), now=2.0)
    # A timeout is an answer too (the tool will not answer again); a refused call never ran.
    assert answered_tools(context) == {"slow_lookup", "book_table"}
