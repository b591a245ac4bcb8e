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


# --- the "cancel" check: the running task of the named tool was cancelled with cancel_task ----------


def cancel_check(target: str = "plan") -> Any:
    from ipyagent.eval.scenario import Check

    return Check("cancel", target, "tools")


def record(tasks: list[TaskRecord], *calls: Any) -> Any:
    """What the cancel check reads of a run: its tasks and its ledger."""
    from types import SimpleNamespace

    from ipyagent.ledger import Entry

    entries = [Entry("user", "plan it", index=0)]
    for i, arguments in enumerate(calls, start=1):
        entries.append(Entry("tool_call", "", index=i, name="cancel_task", arguments=arguments))
    return SimpleNamespace(tasks=tuple(tasks), entries=tuple(entries))


def planned(task_id: str, status: str) -> TaskRecord:
    return TaskRecord(task_id, "plan", "tool", {}, 0.0, 1.0, status)


def test_the_cancel_check_passes_only_for_the_named_tasks_cancellation() -> None:
    from ipyagent.eval.metrics import _cancel

    result = _cancel(cancel_check(), record([planned("t1", "cancelled")], {"task_id": "t1"}))
    assert (result.passed, result.detail) == (True, "cancelled t1")
    # A first call for the wrong task, then the right one.
    tasks = [planned("t1", "running"), planned("t2", "cancelled")]
    result = _cancel(cancel_check(), record(tasks, {"task_id": "t9"}, {"task_id": "t2"}))
    assert (result.passed, result.detail) == (True, "cancelled t2")


def test_the_cancel_check_says_what_went_wrong() -> None:
    from ipyagent.eval.metrics import _cancel

    assert _cancel(cancel_check(), record([])).detail == "no plan task was ever started"
    assert not _cancel(cancel_check(), record([])).passed
    other = TaskRecord("t1", "weather", "tool", {}, 0.0, 1.0, "cancelled")
    assert (
        _cancel(cancel_check(), record([other], {"task_id": "t1"})).detail == "no plan task was ever started"
    )
    running = [planned("t1", "running"), planned("t3", "done")]
    assert _cancel(cancel_check(), record(running)).detail == "cancel_task was never called"
    asked = _cancel(cancel_check(), record(running, {"task_id": "t1"}, {"task_id": "t9"}, {}))
    assert not asked.passed
    assert asked.detail == "cancel_task asked for t1, t9, None; the plan task is ['t1', 't3']"
    # A call whose arguments could not be read never asked for anything.
    assert _cancel(cancel_check(), record(running, None)).detail == "cancel_task was never called"


def test_the_same_arguments_in_another_order_are_the_same_call() -> None:
    first = TaskRecord("t1", "route", "tool", {"to": "Oslo", "by": "train"}, 0.0, 5.0, "done")
    again = TaskRecord("t2", "route", "tool", {"by": "train", "to": "Oslo"}, 1.0, 2.0, "done")
    assert duplicates([first, again]) == ["t2 route repeats t1 while it was running"]
    # Values JSON cannot write (a date the tool was given) are compared by their text.
    import datetime

    day = datetime.date(2026, 12, 1)
    a = TaskRecord("t1", "book", "tool", {"day": day}, 0.0, 5.0, "done")
    b = TaskRecord("t2", "book", "tool", {"day": day}, 1.0, 2.0, "done")
    c = TaskRecord("t3", "book", "tool", {"day": datetime.date(2026, 12, 2)}, 1.5, 2.0, "done")
    assert duplicates([a, b, c]) == ["t2 book repeats t1 while it was running"]
