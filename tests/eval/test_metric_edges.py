"""The scores at their edges: an argument of the wrong type, a call made at the very moment the
first one finished."""

from __future__ import annotations

from typing import Any

import pytest

from ipyagent.eval.metrics import args_match, duplicates
from ipyagent.eval.runner import TaskRecord


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ({"confirm": True}, {"confirm": 1}, False),
        ({"confirm": False}, {"confirm": 0}, False),
        ({"days": 1}, {"days": True}, False),
        ({"days": 3}, {"days": 3.0}, True),
        ({"confirm": True}, {"confirm": True}, True),
        ({"city": "paris"}, {"city": "Paris, France"}, True),
        ({"city": "Paris"}, {}, False),
    ],
)
def test_arguments_match_by_value_and_type(
    expected: dict[str, Any], actual: dict[str, Any], matches: bool
) -> None:
    assert args_match(expected, actual) is matches


def task(task_id: str, started: float, finished: float | None, **arguments: Any) -> TaskRecord:
    return TaskRecord(task_id, "get_weather", "tool", arguments, started, finished, "done")


def test_a_call_made_as_the_first_one_finishes_is_not_a_duplicate() -> None:
    assert duplicates([task("t1", 0.0, 5.0, city="Paris"), task("t2", 5.0, 6.0, city="Paris")]) == []


def test_a_call_made_while_the_first_one_runs_is_a_duplicate() -> None:
    found = duplicates([task("t1", 0.0, 5.0, city="Paris"), task("t2", 4.9, 6.0, city="Paris")])
    assert found == ["t2 get_weather repeats t1 while it was running"]
    # Same moment, or the first never finished: duplicates too. Other arguments: not.
    assert duplicates([task("t1", 1.0, 5.0, city="Oslo"), task("t2", 1.0, 2.0, city="Oslo")]) != []
    assert duplicates([task("t1", 0.0, None, city="Oslo"), task("t2", 9.0, 10.0, city="Oslo")]) != []
    assert duplicates([task("t1", 0.0, 5.0, city="Oslo"), task("t2", 1.0, 2.0, city="Rome")]) == []
