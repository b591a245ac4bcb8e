"""A scenario's score as the evaluation report shows it, worked out by hand for one small run:
generations and which were invalid (a rejected call, a model failure), tokens (a sub-agent's
too; damaged figures count 0), the time to the first answer, the list of failures, and totals
over several scenarios. Also what an expected argument matches, and the no-repeat check."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ipyagent.eval.metrics import Totals, args_match, evaluate_check, score
from ipyagent.eval.runner import TaskRecord
from ipyagent.eval.scenario import Check
from ipyagent.ledger import Entry

SAY_SUNNY = Check("say", ("sunny",), "answers")
CALL_TIME = Check("call", "get_time", "tools")


def entries(*rows: tuple[str, str, dict[str, Any]]) -> tuple[Entry, ...]:
    return tuple(Entry(kind, text, time=100.0 + i, index=i, **f) for i, (kind, text, f) in enumerate(rows))


def step(user: str | None, at: float | None, what: str) -> Any:
    return SimpleNamespace(step=SimpleNamespace(user=user, describe=lambda: what), time=at, ledger_position=0)


def messy_run() -> Any:
    main = entries(
        ("user", "weather?", {}),
        (
            "assistant",
            "Let me check.",
            {
                "status": "complete",
                "generation": 1,
                "usage": {"input_tokens": 100, "output_tokens": 5, "first_token_seconds": 0.5},
            },
        ),
        ("tool_call", "", {"name": "get_wether", "arguments": {}, "call_id": "c1"}),
        (
            "tool_result",
            "unknown tool get_wether",
            {"name": "get_wether", "status": "rejected", "call_id": "c1"},
        ),
        ("notification", "Paris: sunny", {"source": "tool_result", "task_id": "t1", "name": "get_weather"}),
        (
            "assistant",
            "It is sunny.",
            {"status": "complete", "generation": 2, "usage": {"input_tokens": 150, "output_tokens": 4}},
        ),
        ("notification", "the model failed", {"source": "model_error", "name": "scripted"}),
        ("user", "thanks", {}),
        ("tool_call", "", {"name": "log", "arguments": {"text": "thanks"}, "call_id": "c2"}),
        ("tool_result", "", {"name": "log", "status": "started", "task_id": "t2", "call_id": "c2"}),
        (
            "assistant",
            "You're welcome",
            {
                "status": "incomplete",
                "generation": 5,
                "usage": {"first_token_seconds": 0.2, "input_tokens": "lots", "output_tokens": True},
            },
        ),
        ("notification", "timed out", {"source": "model_error", "name": "scripted"}),
    )
    helper = entries(
        ("user", "find the tides", {}),
        (
            "assistant",
            "High tide at noon.",
            {"status": "complete", "generation": 1, "usage": {"input_tokens": 10, "output_tokens": 2}},
        ),
        ("subagent", "x", {"status": "started", "name": "deeper", "task_id": "t1"}),
    )
    tasks = (
        TaskRecord("t1", "get_weather", "tool", {"city": "Paris"}, 1.0, 5.0, "done"),
        TaskRecord("t3", "get_weather", "tool", {"city": "Paris"}, 2.0, 6.0, "done"),
    )
    return SimpleNamespace(
        scenario=SimpleNamespace(checks=(SAY_SUNNY, CALL_TIME)),
        entries=main,
        sub_ledgers={"main/helper": helper},
        tasks=tasks,
        steps=(
            step("weather?", 0.0, "ask"),
            step(None, 5.0, "wait"),
            step("thanks", 12.0, "thank"),
            step("bye", None, "say bye"),
        ),
        generation_starts=(1.0, 6.0, 6.5, 11.0, 12.0),
        epoch=100.0,
        end="runaway",
        error="boom",
        real_seconds=3.5,
    )


def test_a_runs_figures_and_failures() -> None:
    result = score(messy_run())
    # Main: (1) the rejected call spoils its generation; (2) fine; (3) the model failure after it
    # is a generation that failed; (4) a turn of calls only; (5) failed while answering: one
    # generation, invalid. The helper: one good generation.
    assert (result.generations, result.valid_generations) == (6, 3)
    assert result.invalid == ("unknown tool get_wether", "the model failed", "timed out")
    assert (result.input_tokens, result.output_tokens) == (260, 11)
    # The first answer after "weather?" (at 0 s) began at 1 s, first token 0.5 s later: 1.5;
    # after "thanks" (at 12 s) generation 5 began at once, first token 0.2 s later: 0.2.
    assert result.first_answer == pytest.approx(0.85)
    assert [c.passed for c in result.checks] == [True, False]
    assert result.duplicates == ("t3 get_weather repeats t1 while it was running",)
    assert result.missed_steps == ("say bye",)
    assert result.failures() == [
        f"{CALL_TIME.describe()}: never called",
        "duplicate call: t3 get_weather repeats t1 while it was running",
        "never happened: say bye",
        "run stopped: runaway",
        "error: boom",
    ]
    assert not result.success
    assert result.scenario.checks == (SAY_SUNNY, CALL_TIME)


def clean_run(first_token: float, real: float) -> Any:
    main = entries(
        ("user", "what time is it?", {}),
        ("tool_call", "", {"name": "get_time", "arguments": {}, "call_id": "c1"}),
        ("tool_result", "", {"name": "get_time", "status": "started", "task_id": "t1", "call_id": "c1"}),
        ("notification", "12:00", {"source": "tool_result", "task_id": "t1", "name": "get_time"}),
        (
            "assistant",
            "Noon, and sunny.",
            {
                "status": "complete",
                "generation": 2,
                "usage": {"input_tokens": 7, "output_tokens": 3, "first_token_seconds": first_token},
            },
        ),
    )
    return SimpleNamespace(
        scenario=SimpleNamespace(checks=(SAY_SUNNY, CALL_TIME)),
        entries=main,
        sub_ledgers={},
        tasks=(),
        steps=(step("what time is it?", 0.0, "ask"),),
        generation_starts=(0.0, 2.0),
        epoch=100.0,
        end="settled",
        error=None,
        real_seconds=real,
    )


def test_totals_pool_the_scenarios() -> None:
    messy, clean = score(messy_run()), score(clean_run(0.25, 1.0))
    assert clean.success and clean.failures() == []
    assert clean.first_answer == pytest.approx(2.25)  # the first generation did not speak
    quick = score(clean_run(0.0, 0.5))
    totals = Totals.of([messy, clean, quick])
    assert (totals.scenarios, totals.successes, totals.no_duplicates) == (3, 2, 2)
    assert (totals.generations, totals.valid_generations) == (10, 7)  # a clean run: a call, then the answer
    assert totals.tools == (2, 3)
    assert totals.answers == (3, 3)
    assert totals.notifications == (0, 0)
    assert totals.first_answer == pytest.approx(2.0)  # the median of 0.85, 2.25 and 2.0
    assert (totals.input_tokens, totals.output_tokens) == (274, 17)
    assert totals.real_seconds == pytest.approx(5.0)
    assert Totals.of([]).first_answer is None


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ({"cities": ["paris", "Oslo"]}, {"cities": ["Paris, France", "oslo"]}, True),
        ({"cities": ["paris", "oslo"]}, {"cities": ["oslo", "paris"]}, False),  # order matters
        ({"cities": ["paris"]}, {"cities": ["paris", "oslo"]}, False),
        ({"cities": ["paris"]}, {"cities": "paris"}, False),
        ({"trip": {"city": "rome", "days": 2}}, {"trip": {"city": "Rome", "days": 2, "x": 1}}, True),
        ({"trip": {"city": "rome"}}, {"trip": {"city": "Oslo"}}, False),
        ({"trip": {"city": "rome"}}, {"trip": "rome"}, False),
        ({"note": None}, {"note": None}, True),
        ({"note": None}, {"note": "x"}, False),
        ({"city": "paris"}, {"city": 3}, False),
        ({"days": 3}, {"days": "3"}, False),
    ],
)
def test_what_an_expected_argument_matches(
    expected: dict[str, Any], actual: dict[str, Any], matches: bool
) -> None:
    assert args_match(expected, actual) is matches


def cut_run(*later: str, heard: str = "one two three four") -> Any:
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("user", "count", {}),
        ("interruption", "an early cut with nothing heard", {}),
        ("assistant", heard, {"status": "interrupted"}),
        ("interruption", "the user spoke", {}),
    ]
    rows += [("assistant", text, {"status": "complete"}) for text in later]
    return SimpleNamespace(entries=entries(*rows))


@pytest.mark.parametrize(
    ("later", "n", "expected"),
    [
        (("Two three, then five.",), 2, (False, "repeated 'two three'")),
        (("and then three four",), 2, (False, "repeated 'three four'")),  # the last words heard
        (("Five six.", "back to one two"), 2, (False, "repeated 'one two'")),
        (("and four",), 2, (True, "nothing heard was repeated")),
        (("four",), 2, (True, "nothing heard was repeated")),
        (("two three five",), 3, (True, "nothing heard was repeated")),
    ],
)
def test_no_repeat_looks_at_every_later_answer_for_n_words_in_a_row(
    later: tuple[str, ...], n: int, expected: tuple[bool, str]
) -> None:
    result = evaluate_check(Check("no_repeat", n, "answers"), cut_run(*later))
    assert (result.passed, result.detail) == expected
    assert result.check == Check("no_repeat", n, "answers")


def test_no_repeat_needs_an_interruption() -> None:
    run = SimpleNamespace(
        entries=entries(("user", "count", {}), ("assistant", "one two", {"status": "complete"}))
    )
    result = evaluate_check(Check("no_repeat", 2, "answers"), run)
    assert (result.passed, result.detail) == (False, "the agent was never interrupted while answering")
    assert result.check == Check("no_repeat", 2, "answers")


def test_a_model_failure_is_its_own_generation_unless_it_cut_one_short() -> None:
    after_an_answer = entries(
        ("user", "hi", {}),
        ("assistant", "Hello.", {"status": "complete"}),
        ("notification", "the model failed", {"source": "model_error"}),
    )
    mid_answer = entries(
        ("user", "hi", {}),
        ("assistant", "Hel", {"status": "incomplete"}),
        ("notification", "the model failed", {"source": "model_error"}),
    )
    for rows, figures in ((after_an_answer, (2, 1)), (mid_answer, (1, 0))):
        run = messy_run()
        run.entries, run.sub_ledgers, run.tasks = rows, {}, ()
        result = score(run)
        assert (result.generations, result.valid_generations) == figures
        assert result.invalid == ("the model failed",)
