"""Scripts with planted mistakes score exactly what they should."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio

from ipyagent.dispatch.backends.scripted import parse_turns
from ipyagent.eval import Scenario, find_suites, reference_model, run_scenario, score
from ipyagent.eval.metrics import ScenarioResult, Totals

BY_KEY = {s.key: s for suite in find_suites() for s in suite.scenarios}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


async def run_with(key: str, turns: list[dict[str, Any]]) -> ScenarioResult:
    scenario: Scenario = dataclasses.replace(BY_KEY[key], reference=tuple(parse_turns(turns, "test")))
    with anyio.fail_after(10):
        return score(await run_scenario(scenario, reference_model, model="planted"))


def verdicts(result: ScenarioResult) -> list[bool]:
    return [c.passed for c in result.checks]


async def test_wrong_arguments_a_duplicate_a_made_up_answer_and_an_unknown_tool() -> None:
    result = await run_with(
        "async_basics/weather-during-itinerary",
        [
            {"text": "Planning Paris.", "tool_calls": [call("plan_itinerary", city="Paris", days=3)]},
            # The weather is made up (no get_weather call) and the plan is asked for again.
            {"text": "It is sunny in Paris.", "tool_calls": [call("plan_itinerary", city="Paris", days=3)]},
            {"text": "Your plan is ready: museums on day 1."},
            {"text": "Booking a hotel.", "tool_calls": [call("book_hotel", city="Paris")]},
            {"text": "Sorry, I cannot book hotels."},
        ],
    )
    # plan called twice (count=1 fails), get_weather never called, sunny said before the plan
    # arrived (ok), sunny said although get_weather never answered (fails), plan result used (ok).
    assert verdicts(result) == [False, False, True, False, True]
    assert result.metric("tools") == (0, 2)
    assert result.metric("notifications") == (1, 2)
    assert result.metric("answers") == (1, 1)
    assert len(result.duplicates) == 1 and "plan_itinerary repeats t1" in result.duplicates[0]
    assert (result.generations, result.valid_generations) == (5, 4)
    assert "unknown tool 'book_hotel'" in result.invalid[0]
    assert not result.success


async def test_repeating_what_the_user_already_heard_after_an_interruption() -> None:
    result = await run_with(
        "control/side-question-mid-answer",
        [
            {"text": "Chess is played by two players on a board of sixty-four squares with pieces."},
            {"text": "The knight moves in an L-shape. Chess is played by two players on a board."},
        ],
    )
    assert verdicts(result) == [True, False]
    assert result.checks[1].detail == "repeated 'chess is played by'"
    assert (result.generations, result.valid_generations) == (2, 2)
    assert not result.success


async def test_cancelling_the_wrong_task() -> None:
    result = await run_with(
        "control/cancel-itinerary",
        [
            {"text": "Planning Vienna.", "tool_calls": [call("plan_itinerary", city="Vienna", days=4)]},
            {"text": "Cancelling.", "tool_calls": [call("cancel_task", task_id="t9")]},
            {"text": "Hmm, that did not work."},
            {"text": "Your Vienna plan is ready: museums on day 1."},
        ],
    )
    assert verdicts(result) == [True, False, False]
    assert result.checks[1].detail == "cancel_task asked for t9; the plan_itinerary task is ['t1']"
    assert result.metric("tools") == (1, 2)
    assert result.metric("answers") == (0, 1)
    assert not result.success


async def test_a_step_that_never_happens_and_a_script_that_runs_out() -> None:
    # The answer is too short to be cut off after 8 words, so the user's interruption never comes.
    result = await run_with("control/side-question-mid-answer", [{"text": "Chess is a board game."}])
    assert result.missed_steps == (
        "step 2 (after 8 words of an answer): the user interrupts: 'Wait, how does the knight move?'",
    )
    assert verdicts(result) == [False, False]
    assert result.checks[0].detail == "step 2 never happened"
    assert not result.success


async def test_totals_pool_the_scenarios() -> None:
    planted = await run_with(
        "async_basics/conversion-result-used",
        [
            {
                "text": "250 euros is 271 dollars.",
                "tool_calls": [call("convert_currency", amount=250, source="EUR", target="USD")],
            },
            {"text": "As I said, 271 dollars."},
        ],
    )
    # The figure was given before the result arrived: the "not before" check fails.
    assert verdicts(planted) == [True, False, True]
    perfect = score(await run_scenario(BY_KEY["async_basics/flight-result-announced"], reference_model))
    totals = Totals.of([planted, perfect])
    assert (totals.scenarios, totals.successes) == (2, 1)
    assert totals.tools == (2, 2)
    assert totals.notifications == (3, 4)
    assert (totals.generations, totals.valid_generations) == (4, 4)
    assert totals.no_duplicates == 2


async def test_repeating_the_last_words_the_user_heard_counts_as_a_repeat() -> None:
    # The user interrupts after 8 words; the answer after it repeats exactly the last four heard.
    result = await run_with(
        "control/side-question-mid-answer",
        [
            {"text": "Chess is played by two players on a board of sixty-four squares with pieces."},
            {"text": "The knight moves in an L-shape. Remember: two players on a."},
        ],
    )
    heard = next(e for e in result.record.entries if e.kind == "assistant")
    assert heard.text.split()[-4:] == ["two", "players", "on", "a"]
    assert result.checks[1].detail == "repeated 'two players on a'"
    assert not result.checks[1].passed
