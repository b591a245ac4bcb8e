"""The transition table is complete, pure and printable."""

from __future__ import annotations

import pytest

from ipyagent import events as ev
from ipyagent.fsm import EVENT_KINDS, TABLE, Effect, InvalidTransition, State, step, table_markdown


def test_every_state_has_a_row_for_every_event_kind() -> None:
    missing = [(s, k.__name__) for s in State for k in EVENT_KINDS if (s, k) not in TABLE]
    assert missing == []
    assert len(TABLE) == len(State) * len(EVENT_KINDS)


def test_drops_and_defers_say_why() -> None:
    unexplained = [
        (s, k.__name__)
        for (s, k), t in TABLE.items()
        if {Effect.DROP, Effect.DEFER} & set(t.effects) and not t.why
    ]
    assert unexplained == []


def test_subclasses_resolve_to_their_base_row() -> None:
    t = step(State.GENERATING, ev.TimerFired("tea", task_id="t1"))
    assert t.next is State.GENERATING and t.effects == (Effect.DEFER,)
    t = step(State.IDLE, ev.SubAgentReport("done", name="child"))
    assert t.effects == (Effect.RECORD_NOTIFICATION, Effect.REQUEST_GENERATION)


def test_model_failure_has_its_own_row_not_the_notification_one() -> None:
    t = step(State.GENERATING, ev.ModelFailed("boom", generation=1))
    assert t.next is State.IDLE and Effect.RECORD_MODEL_FAILURE in t.effects
    assert Effect.REQUEST_GENERATION not in t.effects  # a failing model is not retried in a loop


@pytest.mark.parametrize("state", [State.GENERATING, State.EMITTING])
def test_interrupt_cuts_output_and_listens(state: State) -> None:
    t = step(state, ev.Interrupt())
    assert t.next is State.LISTENING
    assert t.effects[0] is Effect.CUT_OUTPUT


@pytest.mark.parametrize("state", [State.GENERATING, State.EMITTING])
def test_user_message_while_busy_is_queued(state: State) -> None:
    t = step(state, ev.UserMessage("hello"))
    assert t.effects == (Effect.DEFER,)


def test_unknown_event_type_raises_with_state_and_event() -> None:
    class Strange(ev.Event):
        priority = ev.Priority.HOUSEKEEPING

    with pytest.raises(InvalidTransition, match="no transition from idle on Strange") as info:
        step(State.IDLE, Strange())
    assert info.value.state is State.IDLE


def test_markdown_lists_every_row() -> None:
    text = table_markdown()
    lines = text.splitlines()
    assert lines[0] == "| state | event | next | effects | why |"
    assert len(lines) == 2 + len(TABLE)
    assert "| generating | Interrupt | listening | cancel generation and delivery" in text


def test_event_priorities_follow_the_documented_order() -> None:
    order = [
        ev.Interrupt(),
        ev.UserMessage("x"),
        ev.ToolResult("r"),
        ev.TextDelta(1, "t"),
        ev.GenerateNow(),
    ]
    assert [e.priority for e in order] == sorted(e.priority for e in order)
    assert len({e.priority for e in order}) == 5


def test_queue_keeps_arrival_order_within_a_priority() -> None:
    q = ev.EventQueue()
    for i in range(5):
        q.put(ev.ToolResult(str(i)))
    q.put(ev.GenerateNow())
    q.put(ev.Interrupt())
    got = [q.get_nowait() for _ in range(7)]
    assert isinstance(got[0], ev.Interrupt)
    assert [e.text for e in got[1:6] if isinstance(e, ev.ToolResult)] == ["0", "1", "2", "3", "4"]
    assert isinstance(got[6], ev.GenerateNow)
    assert q.get_nowait() is None


def test_an_event_outside_the_dialog_is_an_error_that_names_it() -> None:
    class Stray(ev.Event):
        priority = ev.Priority.HOUSEKEEPING

    with pytest.raises(InvalidTransition, match=r"no transition from idle on Stray") as err:
        step(State.IDLE, Stray())
    assert err.value.state is State.IDLE and isinstance(err.value.event, Stray)
    from ipyagent.fsm.table import kind_of

    with pytest.raises(TypeError, match=r"^Stray is not a dialog event$"):
        kind_of(Stray())


def test_the_printed_table_is_a_markdown_table_with_every_row() -> None:
    lines = table_markdown().splitlines()
    assert lines[0] == "| state | event | next | effects | why |"
    assert lines[1] == "|---|---|---|---|---|"
    assert len(lines) == 2 + len(TABLE)
    row = next(line for line in lines if line.startswith("| listening | UserMessage |"))
    first, second = TABLE[(State.LISTENING, ev.UserMessage)].effects[:2]
    assert f"| {first.value}; {second.value}; " in row
