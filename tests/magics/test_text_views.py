"""What the text views say (terminals, nbconvert, ``--text``): task ids qualified by agent where
several agents show, no empty answer rows, the system message in full, descriptions wrapped
between words, interruptions and the model's status read once, and %interrupt says what it did."""

from __future__ import annotations

from typing import Any

from ipyagent import Agent, RealClock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.fsm import State
from ipyagent.kernel.session import interrupt_all
from ipyagent.kernel.views import SubAgentView, entry_lines, interruption_text, status_line
from ipyagent.ledger import Ledger
from ipyagent.ledger.text import format_entries, qualified_task_id
from ipyagent.magics.magics import tool_table
from ipyagent.throttle import ClockTimer

SYSTEM = "You are a helpful agent.\nRule one: be brief.\nRule two: say when a tool is still running."


def agents() -> tuple[Agent, Agent]:
    clock = RealClock()
    main = Agent(ScriptedBackend.from_list([{"text": "ok"}], clock), clock=clock, builtins=False)
    helper = Agent(ScriptedBackend.from_list([{"text": "ok"}], clock), clock=clock, builtins=False,
                   name="helper", parent=main)  # fmt: skip
    main.children["helper"] = helper
    return main, helper


def notified(agent: Agent, task_id: str) -> None:
    agent.ledger.append(
        "notification", "slept 1 s", time=agent.clock.wall(), task_id=task_id, name="sleep",
        source="tool_result",
    )  # fmt: skip


def test_a_sub_agents_task_ids_are_qualified_by_its_name() -> None:
    main, helper = agents()
    notified(main, "t1")
    notified(helper, "t1")
    assert qualified_task_id("main", "t1") == "t1"
    assert qualified_task_id("main/helper/deep", "t2") == "helper/deep/t2"
    mine = [line.text for line in entry_lines(main, main.ledger.own)]
    theirs = [line.text for line in entry_lines(helper, helper.ledger.own)]
    assert "✉ t1 sleep: slept 1 s" in mine
    assert "✉ helper/t1 sleep: slept 1 s" in theirs
    from ipyagent.widgets.notifications import notice

    assert notice(helper.ledger[-1], helper.path)["task_id"] == "helper/t1"
    assert notice(main.ledger[-1], main.path)["task_id"] == "t1"


def test_a_turn_that_only_called_a_tool_leaves_no_empty_answer_row() -> None:
    ledger = Ledger()
    ledger.append("user", "what time is it?", time=1.0)
    ledger.append("assistant", "", time=2.0, generation=1, status="complete")
    ledger.append("tool_call", "", time=2.0, name="clock", arguments={}, call_id="c1")
    ledger.append("assistant", "It is noon.", time=3.0, generation=2, status="complete")
    text = format_entries(ledger)
    kinds = [line.split()[1] for line in text.splitlines()]
    assert kinds == ["user", "tool_call", "assistant"]
    main, _ = agents()
    for e in ledger:
        main.ledger.append(e.kind, e.text, time=e.time, **_fields(e))
    shown = [line.role for line in entry_lines(main, main.ledger.own)]
    assert shown.count("assistant") == 1
    from ipyagent.widgets import ledger_view

    view = ledger_view(main)
    try:
        assert [line.split()[1] for line in view.text().splitlines()[1:]] == kinds
    finally:
        view.close()


def test_the_system_message_is_shown_in_full() -> None:
    ledger = Ledger()
    ledger.append("system", SYSTEM + " " + "x" * 300, time=0.0)
    ledger.append("user", "hi", time=1.0)
    text = format_entries(ledger, system=True)
    assert "…" not in text
    for line in SYSTEM.splitlines():
        assert line in text
    assert "x" * 300 in text
    # Its later lines line up under its text; without --system it is left out.
    assert text.splitlines()[1].startswith(" " * 25 + "Rule one")
    assert "system" not in format_entries(ledger)


def test_tool_descriptions_wrap_between_words_under_their_column() -> None:
    long = "Run Python code in the user's notebook, where their variables live. " * 3
    table = tool_table([("run_python", "built-in", long.strip()), ("sleep", "built-in", "Wait.")])
    lines = table.splitlines()
    assert all(len(line) <= 100 for line in lines)
    words = long.split()
    assert " ".join(" ".join(lines[:-1]).split()[2:]) == " ".join(words)  # no word was cut
    column = lines[0].index("Run")
    assert all(line[:column].strip() == "" for line in lines[1:-1])
    assert lines[-1].split() == ["sleep", "built-in", "Wait."]


def test_interruptions_and_the_model_status_read_once() -> None:
    assert interruption_text("interrupted by %interrupt") == "interrupted by %interrupt"
    assert interruption_text("the user pressed stop") == "interrupted: the user pressed stop"
    main, _ = agents()
    main._state = State.GENERATING  # what the footer shows while the model loads
    line = status_line(main, "loading the local model x.gguf (98 MB)…")
    assert line == "generating · loading the local model x.gguf (98 MB)…"
    assert "((" not in line and line.count("(") == 1


def test_interrupt_says_what_it_stopped() -> None:
    main, helper = agents()
    for a in (main, helper):
        a.status = "running"
    said: list[Any] = []
    main.interrupt = lambda reason, source: said.append(("main", reason))  # type: ignore[method-assign]
    helper.interrupt = lambda reason, source: said.append(("helper", reason))  # type: ignore[method-assign]
    assert interrupt_all([main, helper], "interrupted by %interrupt", "magic") == (
        "nothing to interrupt: no agent is generating or speaking"
    )
    main._state = State.GENERATING
    assert (
        interrupt_all([main, helper], "interrupted by %interrupt", "magic") == "interrupted main (generating)"
    )
    assert ("main", "interrupted by %interrupt") in said


def test_a_sub_agent_cell_qualifies_its_running_tasks() -> None:
    _, helper = agents()

    class Publisher:
        def display(self, *_: Any) -> None: ...
        def update(self, *_: Any) -> None: ...

    import asyncio

    loop = asyncio.new_event_loop()
    try:
        timer = ClockTimer(RealClock())
        view = SubAgentView(Publisher(), loop, timer, "fork", "helper", "look it up")  # type: ignore[arg-type]
        view.agent = helper
        notified(helper, "t3")
        assert "✉ helper/t3 sleep: slept 1 s" in view.render()["text/plain"]
    finally:
        loop.close()


def _fields(e: Any) -> dict[str, Any]:
    keys = ("name", "call_id", "task_id", "arguments", "status", "source", "generation")
    return {k: getattr(e, k) for k in keys if getattr(e, k) is not None}
