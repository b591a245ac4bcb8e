"""What the browser is told when a message breaks the contract, and what the ledger view is sent.

A refused message becomes one line in the view saying what was wrong (the exact words are what a
user reads); a message that follows the contract passes unchanged, optional fields included or
left out. The rows and call states are what the ledger view draws.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from ipyagent.dispatch.tasks import BackgroundTask, Progress
from ipyagent.ledger import Entry
from ipyagent.widgets.wire import TEXT_LIMIT, WireError, call_state, clip, parse_client, parse_voice, row

AGAIN = "reload the page if this repeats"
CHAT = frozenset({"hello", "send", "follow", "window", "filter", "interrupt"})


def refusal(msg: Any, allowed: frozenset[str] = CHAT) -> str:
    with pytest.raises(WireError) as err:
        parse_client(msg, allowed)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_a_message_that_is_not_an_object_is_refused_by_its_type() -> None:
    assert refusal(["send"]) == f"refused a message from the browser: a list, not an object; {AGAIN}"
    assert refusal("hello") == f"refused a message from the browser: a str, not an object; {AGAIN}"


def test_a_message_without_a_type_is_refused() -> None:
    expected = f"refused a message from the browser: it has no 'type' string; {AGAIN}"
    assert refusal({"text": "hi"}) == expected
    assert refusal({"type": 3}) == expected


def test_a_kind_the_widget_does_not_take_is_refused_naming_the_kinds_it_does() -> None:
    takes = "follow, hello, send"
    allowed = frozenset({"hello", "send", "follow", "not-a-kind"})
    # A known kind this widget does not take (the chat takes no cancel).
    assert refusal({"type": "cancel", "path": "main"}, allowed) == (
        f"refused a 'cancel' message from the browser: this widget takes {takes}; {AGAIN}"
    )
    # An unknown kind, even one the widget lists, is refused; only its first 40 characters are echoed.
    assert refusal({"type": "not-a-kind"}, allowed).startswith("refused a 'not-a-kind' message")
    long_kind = "k" * 39 + "XYZ"
    assert refusal({"type": long_kind}, allowed) == (
        f"refused a '{'k' * 39}X' message from the browser: this widget takes {takes}; {AGAIN}"
    )


def test_a_missing_required_field_is_named() -> None:
    assert refusal({"type": "follow"}) == (
        f"refused a 'follow' message from the browser: 'path' must be a string, not missing; {AGAIN}"
    )
    assert refusal({"type": "window", "start": 0}) == (
        f"refused a 'window' message from the browser: 'count' must be a whole number, not missing; {AGAIN}"
    )


def test_a_field_of_the_wrong_type_is_named_with_what_it_must_be() -> None:
    assert refusal({"type": "send", "text": 5}) == (
        f"refused a 'send' message from the browser: 'text' must be a string, not a int; {AGAIN}"
    )
    assert refusal({"type": "window", "start": "0", "count": 5}) == (
        f"refused a 'window' message from the browser: 'start' must be a whole number, not a str; {AGAIN}"
    )
    # A number field takes a whole number or a float: both names are given.
    with pytest.raises(WireError) as err:
        parse_voice({"type": "playback", "chunk": 1, "played": "half", "done": False})
    assert str(err.value) == (
        "refused a 'playback' message from the browser: 'played' must be a whole number or number, "
        f"not a str; {AGAIN}"
    )


def test_true_or_false_is_not_a_number_and_a_number_is_not_true_or_false() -> None:
    assert refusal({"type": "window", "start": True, "count": 5}) == (
        f"refused a 'window' message from the browser: 'start' must be a whole number, not a bool; {AGAIN}"
    )
    assert parse_voice({"type": "mic_state", "on": True}) == {"type": "mic_state", "on": True}
    assert parse_voice({"type": "mic_state", "on": False}) == {"type": "mic_state", "on": False}
    with pytest.raises(WireError, match=r"'on' must be a true or false, not a int"):
        parse_voice({"type": "mic_state", "on": 1})


@pytest.mark.parametrize("played", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused(played: float) -> None:
    with pytest.raises(WireError, match=r"'played' must be a whole number or number, not a float"):
        parse_voice({"type": "playback", "chunk": 1, "played": played, "done": False})


def test_finite_numbers_pass_whole_or_not() -> None:
    for played in (0, 3, 2.5, -0.0):
        msg = {"type": "playback", "chunk": 1, "played": played, "done": True}
        assert parse_voice(msg) == msg


def test_optional_fields_may_be_left_out_but_are_checked_when_present() -> None:
    filt = {"type": "filter", "hidden": "tool_call", "query": ""}
    assert parse_client(filt, CHAT) == filt
    anchored = {**filt, "anchor": 12}
    assert parse_client(anchored, CHAT) == anchored
    assert refusal({**filt, "anchor": "12"}) == (
        f"refused a 'filter' message from the browser: 'anchor' must be a whole number, not a str; {AGAIN}"
    )
    assert parse_voice({"type": "mic", "rate": 48000}) == {"type": "mic", "rate": 48000}
    with pytest.raises(WireError, match=r"'seq' must be a whole number, not a float"):
        parse_voice({"type": "mic", "rate": 48000, "seq": 1.5})
    with pytest.raises(WireError, match=r"'chunks' must be a whole number, not a str"):
        parse_voice({"type": "stopped", "chunks": "3"})


def test_the_voice_side_takes_only_its_own_kinds() -> None:
    with pytest.raises(WireError) as err:
        parse_voice({"type": "send", "text": "hi"})
    assert str(err.value) == (
        "refused a 'send' message from the browser: this widget takes error, mic, mic_state, playback, "
        f"ready, stopped; {AGAIN}"
    )
    failure = {"type": "error", "text": "no microphone"}
    assert parse_voice(failure) == failure
    with pytest.raises(WireError, match=r"'text' must be a string, not missing"):
        parse_voice({"type": "error"})


# --- what the ledger view is sent -----------------------------------------------------------------


def test_a_long_text_is_cut_at_the_limit_and_the_rest_counted() -> None:
    assert clip("abc", 3) == ("abc", 0)
    assert clip("abcd", 3) == ("abc", 1)
    assert clip("x" * (TEXT_LIMIT + 5)) == ("x" * TEXT_LIMIT, 5)
    assert clip("x" * TEXT_LIMIT) == ("x" * TEXT_LIMIT, 0)


def test_a_row_carries_the_fields_the_entry_has_and_no_others() -> None:
    plain = row(Entry("user", "hello", time=12.5, index=3))
    assert plain == {"i": 3, "kind": "user", "text": "hello", "more": 0, "t": 12.5}
    call = row(
        Entry(
            "tool_call",
            "x" * (TEXT_LIMIT + 7),
            time=1.0,
            index=4,
            name="lookup",
            call_id="c1",
            task_id="t1",
            arguments={"query": "café", "n": 2},
            status="running",
            source="main",
            generation=2,
            finished=3.5,
        )
    )
    assert call == {
        "i": 4,
        "kind": "tool_call",
        "text": "x" * TEXT_LIMIT,
        "more": 7,
        "t": 1.0,
        "name": "lookup",
        "status": "running",
        "source": "main",
        "task_id": "t1",
        "call_id": "c1",
        "gen": 2,
        "finished": 3.5,
        "args": '{\n "query": "café",\n "n": 2\n}',
    }
    # Zero is a value, not an absence.
    assert row(Entry("assistant", "a", generation=0, finished=0.0))["gen"] == 0
    assert row(Entry("assistant", "a", generation=0, finished=0.0))["finished"] == 0.0


def test_long_arguments_are_cut_too() -> None:
    args = row(Entry("tool_call", "", arguments={"text": "y" * (2 * TEXT_LIMIT)}))["args"]
    assert len(args) == TEXT_LIMIT
    assert args.startswith('{\n "text": "yyy')


def _task(**kw: Any) -> BackgroundTask:
    return BackgroundTask("t7", "lookup", "tool", arguments={}, started=100.0, scope=None, **kw)


def test_a_running_call_shows_its_start_in_wall_time_and_its_progress() -> None:
    task = _task(call_id="c7", progress=Progress("pages", done=3, total=10))
    # The agent clock reads 130 (monotonic) at wall time 1000: the task started 30 s ago.
    assert call_state(task, now=130.0, wall=1000.0) == {
        "call_id": "c7",
        "task_id": "t7",
        "status": "running",
        "start": 970.0,
        "duration": None,
        "result": None,
        "progress": "pages (3 of 10)",
        "fraction": 0.3,
    }


def test_an_ended_call_shows_its_duration_and_result_and_no_progress() -> None:
    task = _task(call_id="c7", status="done", finished=104.5, result="r" * (TEXT_LIMIT + 1))
    task.progress = Progress("pages", done=10, total=10)
    state = call_state(task, now=200.0, wall=2000.0)
    assert state is not None
    assert state["start"] == 1900.0
    assert state["duration"] == 4.5
    assert state["result"] == "r" * TEXT_LIMIT
    assert state["progress"] is None
    assert state["fraction"] is None
    assert state["status"] == "done"


def test_a_task_no_tool_call_started_has_no_call_state() -> None:
    assert call_state(_task(), now=1.0, wall=1.0) is None


def test_arguments_that_are_not_json_are_shown_by_their_repr() -> None:
    """An agent without a ledger file keeps arguments as given: the view still shows them."""
    shown = row(Entry("tool_call", "", arguments={"when": {3}, "raw": b"x"}))["args"]
    assert shown == '{\n "when": "{3}",\n "raw": "b\'x\'"\n}'
