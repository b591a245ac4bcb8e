"""Bad input, what users see: the cell views, the widgets' rows and text fallbacks (``%timeline``,
``%notifications``, ``%agents``, the chat) and the eval HTML report show any ledger content —
markup, control characters, huge texts — without breaking: HTML escapes everything (no tag
from content survives), text stays readable, rows stay JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from ipyagent import Agent, RealClock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.eval import find_suites, score
from ipyagent.eval.report import console_report, html_report
from ipyagent.eval.runner import RunRecord, StepRecord, TaskRecord
from ipyagent.kernel.approval import Approval
from ipyagent.kernel.views import bundle, entry_lines
from ipyagent.ledger import Entry, Ledger
from ipyagent.widgets import agent_tree, chat_box, ledger_view, notifications, state_indicator, timeline
from ipyagent.widgets.chat import line
from ipyagent.widgets.notifications import notice
from ipyagent.widgets.wire import TEXT_LIMIT, row
from support.fuzz_kit import FUZZ, FUZZ_SLOW, any_text, entries, entry_lists, tags_of, target, texts

SCRIPT = [{"text": "hello"}]
SCENARIO = find_suites()[0].scenarios[0]
REPORT_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "table", "thead", "tbody",
    "tr", "th", "td", "span", "details", "summary", "ol", "ul", "li", "pre", "code",
}  # fmt: skip


def _agent(items: list[Entry] = ()) -> Agent:  # type: ignore[assignment]
    ledger = Ledger()
    for e in items:
        ledger.append(e.kind, e.text, time=e.time, **_fields(e))
    return Agent(ScriptedBackend.from_list(SCRIPT, RealClock()), ledger=ledger, builtins=False)


def _fields(e: Entry) -> dict[str, Any]:
    keys = ("name", "call_id", "task_id", "arguments", "status", "source", "generation", "usage")
    return {k: getattr(e, k) for k in keys if getattr(e, k) is not None}


# What a cell view may contain: its own rows and buttons, and what Markdown makes of an answer.
CELL_VIEW_TAGS = {
    "div", "pre", "code", "span", "button", "p", "strong", "em", "s", "ul", "ol", "li", "blockquote",
    "hr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
CELL_VIEW_ATTRIBUTES = {
    "class", "style", "type", "title", "href", "target", "rel", "start", "data-lang", "data-request",
    "data-digest", "data-status", "data-ipyagent-action",
}  # fmt: skip


def _no_markup_from_content(document: str, allowed: set[str], attributes: set[str] | None = None) -> None:
    found = tags_of(document)
    assert set(found.tags) <= allowed, set(found.tags) - allowed
    assert "<script" not in document.lower()
    assert not any(a.startswith("on") for a in found.attributes)
    if attributes is not None:
        assert set(found.attributes) <= attributes, set(found.attributes) - attributes
    assert "javascript:" not in document.lower()


# --- cell views ------------------------------------------------------------------------------------


@FUZZ
@given(entry_lists(), texts, st.lists(st.tuples(texts, st.sampled_from(["pending", "approved"]))))
@example(
    [Entry("user", "<script>alert(1)</script>", time=0.0, index=0, source="</div><img onerror=x>")],
    "<b>footer</b>",
    [("<script>", "pending")],
)
@target("cell view HTML")
def test_a_cell_view_escapes_everything(items: list[Entry], footer: str, asks: list[Any]) -> None:
    agent = _agent()
    approvals = [Approval(f"r{i}", "run_python", code, status) for i, (code, status) in enumerate(asks)]
    lines = entry_lines(agent, items, approvals)
    shown = bundle(lines, footer)
    _no_markup_from_content(shown["text/html"], CELL_VIEW_TAGS, CELL_VIEW_ATTRIBUTES)
    assert shown["text/plain"].count("\n") >= len(lines) - 1


# --- widgets -----------------------------------------------------------------------------------


@FUZZ
@given(entries())
@example(Entry("notification", "x" * 100_000, time=1.0, index=0, arguments={"a": [1.5, None]}))
@target("widget rows (ledger view, feed, chat)")
def test_widget_rows_are_clipped_json_for_any_entry(entry: Entry) -> None:
    r = row(entry)
    assert len(r["text"]) <= TEXT_LIMIT and r["more"] == max(0, len(entry.text) - TEXT_LIMIT)
    assert entry.text.startswith(r["text"])
    json.dumps(r)
    json.dumps(notice(entry, "main"))
    chat = line(entry)
    if chat is not None:
        json.dumps(chat)


@FUZZ_SLOW
@given(entry_lists(max_size=6))
@example([Entry("subagent", "\x1b[2J", time=0.0, index=0, name="<kid>", status="fork", task_id="\u2028")])
@example([Entry("notification", "ready\n\x1b[2J<b>", time=0.0, index=0, source="tool_result")])
@target("widget text fallbacks (%timeline, %notifications, %agents, %ledger, chat)")
def test_every_widget_shows_any_ledger_as_text(items: list[Entry]) -> None:
    agent = _agent(items)
    for make in (ledger_view, notifications, chat_box, state_indicator, agent_tree, timeline):
        widget = make(agent)
        try:
            text = widget.text()
            assert isinstance(text, str) and text
            for row_ in text.split("\n"):  # content cannot break a line or reach the terminal raw
                assert all(c.isprintable() for c in row_), f"{type(widget).__name__}: {row_[:200]!r}"
            bundle_ = widget._repr_mimebundle_()
            data = bundle_[0] if isinstance(bundle_, tuple) else bundle_
            # the same text (the timeline's header holds the time now, so it may move on)
            assert data["text/plain"].splitlines()[1:] == text.splitlines()[1:]
        finally:
            widget.close()


# --- the eval report -----------------------------------------------------------------------------


@st.composite
def run_records(draw: st.DrawFn) -> RunRecord:
    scenario = dataclasses.replace(
        SCENARIO,
        description=draw(texts),
        instructions=draw(st.none() | texts),
    )
    items = draw(entry_lists(max_size=6))
    tasks = tuple(
        TaskRecord(
            f"t{i}",
            draw(texts),
            "tool",
            draw(st.dictionaries(texts, texts, max_size=2)),
            float(i),
            draw(st.none() | st.floats(0, 100)),
            draw(texts),
        )
        for i in range(draw(st.integers(0, 3)))
    )
    steps = tuple(StepRecord(s, draw(st.none() | st.floats(0, 50)), 0) for s in scenario.steps)
    return RunRecord(
        scenario=scenario,
        model=draw(texts),
        entries=tuple(items),
        sub_ledgers={draw(texts): tuple(draw(entry_lists(max_size=3)))},
        tasks=tasks,
        steps=steps,
        generation_starts=tuple(draw(st.lists(st.floats(0, 50), max_size=4))),
        tool_specs=(),
        epoch=0.0,
        end=draw(st.sampled_from(["settled", "time limit"]) | texts),
        virtual_seconds=draw(st.floats(0, 1e6)),
        real_seconds=draw(st.floats(0, 1e6)),
        error=draw(st.none() | any_text),
    )


@FUZZ_SLOW
@given(st.lists(run_records(), min_size=1, max_size=3), texts)
@target("eval HTML report")
def test_the_eval_report_escapes_everything(records: list[RunRecord], model: str) -> None:
    results = [score(r) for r in records]
    document = html_report(results, model)
    _no_markup_from_content(document, REPORT_TAGS)
    assert console_report(results, model, verbose=True)


def test_damaged_usage_figures_count_as_zero_in_scores() -> None:
    bad = Entry(
        "assistant",
        "hi",
        time=1.0,
        index=1,
        generation=1,
        usage={"input_tokens": "many", "output_tokens": [2]},
    )
    record = RunRecord(
        scenario=SCENARIO, model="m", entries=(Entry("user", "q", time=0.0, index=0), bad), sub_ledgers={},
        tasks=(), steps=(), generation_starts=(0.0,), tool_specs=(), epoch=0.0, end="settled",
        virtual_seconds=1.0, real_seconds=1.0,
    )  # fmt: skip
    result = score(record)  # was a ValueError
    assert (result.input_tokens, result.output_tokens) == (0, 0)
