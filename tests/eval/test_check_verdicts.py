"""The verdict and the one-line reason of each kind of check (what the evaluation report shows for
a scenario), over one small hand-written run, and the windows a check can look in: after or
before a notification, after a step, by a virtual second."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ipyagent.eval.metrics import evaluate_check
from ipyagent.eval.scenario import Check
from ipyagent.ledger import Entry

EPOCH = 100.0


def run(position: int | None = 10, happened: bool = True) -> Any:
    rows: list[tuple[str, str, float, dict[str, Any]]] = [
        ("user", "plan a trip to Paris", 100.0, {}),
        ("tool_call", "", 101.0, {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": "c1"}),
        (
            "tool_result",
            "",
            101.0,
            {"name": "get_weather", "status": "started", "task_id": "t1", "call_id": "c1"},
        ),
        ("tool_call", "", 101.0, {"name": "get_weather", "arguments": {"city": "Oslo"}, "call_id": "c2"}),
        (
            "tool_result",
            "city: not allowed",
            101.0,
            {"name": "get_weather", "status": "rejected", "call_id": "c2"},
        ),
        ("tool_call", "", 102.0, {"name": "book_table", "arguments": {"people": 2}, "call_id": "c3"}),
        (
            "tool_result",
            "",
            102.0,
            {"name": "book_table", "status": "started", "task_id": "t2", "call_id": "c3"},
        ),
        ("assistant", "Looking up the weather.", 102.0, {"status": "complete"}),
        (
            "notification",
            "Paris: sunny",
            105.0,
            {"source": "tool_result", "task_id": "t1", "name": "get_weather"},
        ),
        ("assistant", "It is sunny in Paris.", 106.0, {"status": "complete"}),
        ("tool_call", "", 110.0, {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": "c4"}),
        (
            "tool_result",
            "",
            110.0,
            {"name": "get_weather", "status": "started", "task_id": "t3", "call_id": "c4"},
        ),
        ("assistant", "Checking again.", 110.0, {"status": "complete"}),
    ]
    entries = tuple(Entry(kind, text, time=t, index=i, **f) for i, (kind, text, t, f) in enumerate(rows))
    step = SimpleNamespace(time=8.0 if happened else None, ledger_position=position)
    return SimpleNamespace(entries=entries, epoch=EPOCH, steps=(step,), tasks=())


def verdict(kind: str, target: Any, **fields: Any) -> tuple[bool, str]:
    result = evaluate_check(Check(kind, target, "tools", **fields), run())  # type: ignore[arg-type]
    return result.passed, result.detail


PARIS = 'get_weather({"city": "Paris"})'


@pytest.mark.parametrize(
    ("kind", "target", "fields", "expected"),
    [
        # Calls: a rejected call never ran, so it is not counted (and the reason says so).
        ("call", "get_weather", {}, (True, "called 2x")),
        ("call", "get_weather", {"count": 2}, (True, "called 2x")),
        ("call", "get_weather", {"count": 1}, (False, "called 2x (1 rejected call(s) not counted)")),
        ("call", "book_table", {"count": 0}, (False, "called 1x")),
        (
            "call",
            "get_weather",
            {"args": {"city": "oslo"}},
            (
                False,
                f'calls made: {PARIS}, get_weather({{"city": "Oslo"}}), {PARIS}'
                " (1 rejected call(s) not counted)",
            ),
        ),
        ("call", "get_time", {}, (False, "never called")),
        ("call", ("get_time", "book_table"), {}, (True, "called 1x")),
        ("call", "book_table", {"args": {"people": 2}}, (True, "called 1x")),
        # Windows.
        ("call", "get_weather", {"after": "get_weather"}, (True, "called 1x")),
        ("call", "get_weather", {"before": "get_weather", "count": 1}, (True, "called 1x")),
        ("call", "get_weather", {"before": "timer", "count": 2}, (True, "called 2x")),  # never came: no bound
        (
            "call",
            "get_weather",
            {"after": "book_table"},
            (False, "the notification of book_table never arrived"),
        ),
        ("call", "get_weather", {"by": 1.0, "count": 1}, (True, "called 1x")),  # at 1.0 s exactly: in time
        ("call", "book_table", {"by": 1.999}, (False, "never called")),
        (
            "call",
            "get_weather",
            {"after_step": 1, "count": 1},
            (True, "called 1x"),
        ),  # from the step's position on
        # No call: asking is what is forbidden, rejected or not.
        (
            "no_call",
            "get_weather",
            {"args": {"city": "oslo"}},
            (False, 'called: get_weather({"city": "Oslo"})'),
        ),
        ("no_call", "send_email", {}, (True, "not called")),
        ("no_call", "get_weather", {"after": "timer"}, (True, "the notification of timer never arrived")),
        ("no_call", "book_table", {"after": "get_weather"}, (True, "not called")),
        # Words.
        ("say", ("sunny",), {}, (True, "said: 'It is sunny in Paris.'")),
        ("say", ("rain", "snow"), {}, (False, "not in 3 answer(s) in that window")),
        ("say", ("sunny", "oslo"), {"all_words": True}, (False, "not in 3 answer(s) in that window")),
        ("say", ("sunny", "paris"), {"all_words": True}, (True, "said: 'It is sunny in Paris.'")),
        ("say", ("weather",), {"after": "get_weather"}, (False, "not in 2 answer(s) in that window")),
        ("say", ("sunny",), {"after": "timer"}, (False, "the notification of timer never arrived")),
        ("not_say", ("rain",), {}, (True, "not said")),
        ("not_say", ("sunny",), {}, (False, "said: 'It is sunny in Paris.'")),
        ("not_say", ("sunny",), {"after": "timer"}, (True, "the notification of timer never arrived")),
    ],
)
def test_each_check_gives_its_verdict_and_reason(
    kind: str, target: Any, fields: dict[str, Any], expected: tuple[bool, str]
) -> None:
    assert verdict(kind, target, **fields) == expected


def test_a_step_window_starts_at_the_steps_position_and_needs_the_step() -> None:
    check = Check("call", "get_weather", "tools", count=1, after_step=1)
    assert evaluate_check(check, run(position=10)).passed
    assert evaluate_check(
        Check("call", "get_weather", "tools", count=0, after_step=1), run(position=11)
    ).passed
    missed = evaluate_check(check, run(happened=False))
    assert (missed.passed, missed.detail) == (False, "step 1 never happened")
    # Nothing can have been called after a step that never happened.
    never = evaluate_check(Check("no_call", "get_weather", "tools", after_step=1), run(happened=False))
    assert (never.passed, never.detail) == (True, "not called")
