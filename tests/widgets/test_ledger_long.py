"""The ledger view of a long session: opening it, scrolling it and hiding kinds read the same
few entries whatever the ledger's length; appends still arrive live at their place; a search of a
long ledger says how far it got and gives the right rows; an answer's notes travel with its row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ipyagent import Agent
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.ledger import Entry, Ledger
from ipyagent.testing import VirtualClock
from ipyagent.throttle import ClockTimer
from ipyagent.widgets import ledger as ledger_module
from ipyagent.widgets import ledger_view
from ipyagent.widgets.ledger import FIRST, LedgerView

KINDS = ["user", "assistant", "tool_call", "tool_result", "notification"]


def long_ledger(n: int) -> Ledger:
    """A ledger of ``n`` entries as a resumed session has them (made without the per-append
    checks, which only slow the test); every 10,000th entry says "needle"."""
    entries = []
    for i in range(n):
        kind = KINDS[i % 5]
        text = f"entry {i}" + (" needle" if i % 10_000 == 3 else "")
        extra: dict[str, Any] = {}
        if kind == "tool_call":
            extra = {"name": "lookup", "call_id": f"c{i}"}
        elif kind == "tool_result":  # the call's immediate answer, right after it
            extra = {"name": "lookup", "call_id": f"c{i - 1}", "status": "done"}
        entries.append(Entry(kind, text, time=float(i), index=i, **extra))  # type: ignore[arg-type]
    return Ledger("main", _own=entries)


class Reads:
    """Counts the ledger entries read (by index or by iterating)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        get, walk = Ledger.__getitem__, Ledger.__iter__

        def counted_get(ledger: Ledger, i: Any) -> Any:
            self.count += 1
            return get(ledger, i)

        def counted_iter(ledger: Ledger) -> Iterator[Entry]:
            for entry in walk(ledger):
                self.count += 1
                yield entry

        monkeypatch.setattr(Ledger, "__getitem__", counted_get)
        monkeypatch.setattr(Ledger, "__iter__", counted_iter)

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def open_view(clock: VirtualClock, ledger: Ledger, wire: Any) -> tuple[Agent, LedgerView, Any]:
    """An agent with ``ledger``, and a view of it that appeared (asked for its rows)."""
    agent = Agent(ScriptedBackend.from_list([], clock), clock=clock, ledger=ledger)
    view = ledger_view(agent, timer=ClockTimer(clock))
    sent = wire(view)
    view._receive(view, {"type": "sync"}, [])
    return agent, view, sent


def rows_sent(messages: list[dict[str, Any]]) -> int:
    return sum(len(m.get("rows", [])) for m in messages)


async def open_and_scroll(n: int, monkeypatch: pytest.MonkeyPatch, wire: Any) -> dict[str, int]:
    """Entries read and rows sent by each step a user takes on a ledger of ``n`` entries."""
    ledger = long_ledger(n)
    reads = Reads(monkeypatch)
    work: dict[str, int] = {}
    async with VirtualClock() as clock:
        agent = Agent(ScriptedBackend.from_list([], clock), clock=clock, ledger=ledger)
        reads.take()
        view = ledger_view(agent, timer=ClockTimer(clock))
        sent = wire(view)
        view._repr_mimebundle_()  # what showing it in a cell does (its text fallback too)
        view._receive(view, {"type": "sync"}, [])
        [reset] = sent.custom("reset")
        assert reset["total"] == n and reset["shown"] == n
        assert [r["i"] for r in reset["rows"]] == list(range(n - FIRST, n))
        assert view.first == reset  # what the view draws before the kernel answers it
        work["open: entries read"] = reads.take()
        work["open: rows sent"] = rows_sent(sent.custom())

        view._receive(view, {"type": "window", "start": n // 2, "count": 160}, [])
        [rows] = sent.custom("rows")
        assert [r["i"] for r in rows["rows"]] == list(range(n // 2, n // 2 + 160))
        work["scroll to the middle: entries read"] = reads.take()

        before = len(sent.custom())
        hidden = "system,user,assistant,tool_result,notification"  # only tool calls
        view._receive(view, {"type": "filter", "hidden": hidden, "query": "", "anchor": n // 2 + 1}, [])
        reset = sent.custom("reset")[-1]
        assert reset["shown"] == n // 5 and reset["start"] == n // 10
        assert {r["kind"] for r in reset["rows"]} == {"tool_call"}
        assert [r["i"] for r in reset["rows"] if r["p"] == n // 10] == [n // 2 + 2]
        work["show only tool calls: entries read"] = reads.take()
        work["show only tool calls: rows sent"] = rows_sent(sent.custom()[before:])
        view.close()
    return work


async def test_opening_scrolling_and_hiding_kinds_read_as_much_at_100000_entries_as_at_1000(
    monkeypatch: pytest.MonkeyPatch, wire: Any
) -> None:
    small = await open_and_scroll(1_000, monkeypatch, wire)
    large = await open_and_scroll(100_000, monkeypatch, wire)
    assert large == small
    assert small["open: rows sent"] == FIRST
    # The text fallback reads the newest 200 (and the first, for times); the rows (with the
    # output, and for the view's sync), what they show (a call's status is read from the entry
    # after it). Nothing else.
    assert small["open: entries read"] <= 201 + 2 * (FIRST + FIRST // 5)
    assert small["scroll to the middle: entries read"] <= 2 * 160


async def test_appends_arrive_live_at_their_place_in_a_long_ledger(wire: Any) -> None:
    n = 50_000
    async with VirtualClock() as clock:
        agent, view, sent = open_view(clock, long_ledger(n), wire)
        for k in range(3):
            agent.ledger.append("user", f"appended {k}", time=float(n + k))
            await clock.sleep(0.1)
        rows = [(r["p"], r["i"], r["text"]) for m in sent.custom("batch") for r in m["rows"]]
        assert rows == [(n + k, n + k, f"appended {k}") for k in range(3)]
        batch = sent.custom("batch")[-1]
        assert batch["shown"] == batch["total"] == n + 3
        assert batch["counts"]["user"] == n // 5 + 3

        # With users hidden, an appended user entry only counts; a tool result lands at its place.
        view._receive(view, {"type": "filter", "hidden": "system,user", "query": ""}, [])
        shown = sent.custom("reset")[-1]["shown"]
        assert shown == n + 3 - (n // 5 + 3)
        agent.ledger.append("user", "hidden one", time=float(n + 3))
        agent.ledger.append("tool_result", "shown one", time=float(n + 4))
        await clock.sleep(0.1)
        batch = sent.custom("batch")[-1]
        assert [(r["p"], r["text"]) for r in batch["rows"]] == [(shown, "shown one")]
        assert batch["shown"] == shown + 1 and batch["total"] == n + 5
        view._receive(view, {"type": "window", "start": shown - 1, "count": 5}, [])
        rows = sent.custom("rows")[-1]["rows"]
        assert [r["text"] for r in rows] == [f"entry {n - 1}", "shown one"]
        view.close()


def search(view: Any, sent: Any, hidden: str, query: str) -> dict[str, Any]:
    """Filter the view (kinds ``hidden``, text ``query``) and return the rows it resets to."""
    view._receive(view, {"type": "filter", "hidden": hidden, "query": query}, [])
    assert view.wait_for_search(60)
    return sent.custom("reset")[-1]


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search does 8,192 entries at once, the rest on its own thread (as a long ledger's)."""
    monkeypatch.setattr(ledger_module, "SEARCH_INLINE", 8192)
    monkeypatch.setattr(ledger_module, "SEARCH_STEP", 4096)


@pytest.mark.usefixtures("small_steps")
async def test_a_search_of_a_long_ledger_reports_progress_and_finds_every_match(wire: Any) -> None:
    n = 60_000
    async with VirtualClock() as clock:
        _, view, sent = open_view(clock, long_ledger(n), wire)
        view._receive(view, {"type": "filter", "hidden": "system", "query": "Needle"}, [])
        progress = sent.custom("searching")
        assert progress and progress[0]["query"] == "needle" and progress[0]["total"] == n
        assert 0 < progress[0]["done"] < n
        # Meanwhile the view still gets the rows it asks for (the filter it shows).
        view._receive(view, {"type": "window", "start": 10, "count": 2}, [])
        assert [r["i"] for r in sent.custom("rows")[-1]["rows"]] == [10, 11]
        assert view.wait_for_search(60)
        reset = sent.custom("reset")[-1]
        needles = [i for i in range(n) if i % 10_000 == 3]
        assert reset["query"] == "needle" and reset["shown"] == len(needles)
        assert [r["i"] for r in reset["rows"]] == needles
        assert all("needle" in r["text"] for r in reset["rows"])

        # The same search with a kind hidden reads no entry again; matches are by kind too.
        view._receive(view, {"type": "filter", "hidden": "system,notification", "query": "needle"}, [])
        reset = sent.custom("reset")[-1]
        assert [r["i"] for r in reset["rows"]] == [i for i in needles if KINDS[i % 5] != "notification"]

        # A second search is answered from the texts the first one kept.
        reset = search(view, sent, "system", "entry 12345")
        assert [r["text"] for r in reset["rows"]] == ["entry 12345"]
        # Clearing the search shows everything again, newest last.
        reset = search(view, sent, "system", "")
        assert reset["shown"] == n and reset["rows"][-1]["i"] == n - 1
        view.close()


@pytest.mark.usefixtures("small_steps")
async def test_a_newer_filter_wins_over_a_search_still_running(wire: Any) -> None:
    n = 60_000
    async with VirtualClock() as clock:
        _, view, sent = open_view(clock, long_ledger(n), wire)
        view._receive(view, {"type": "filter", "hidden": "system", "query": "entry"}, [])
        reset = search(view, sent, "system,user", "")
        assert reset["query"] == "" and reset["shown"] == n - n // 5
        view.close()


async def test_an_answers_notes_travel_with_its_row(wire: Any) -> None:
    async with VirtualClock() as clock:
        ledger = Ledger()
        usage = {"notes": ["tool lookup chosen by keyword", "a repetition was stopped"]}
        ledger.append("assistant", "Here it is.", time=1.0, usage=usage)
        ledger.append("assistant", "", time=2.0, usage={"notes": ["answered from the result"]})
        ledger.append("assistant", "", time=3.0)  # a turn that only called tools: not shown
        _, view, sent = open_view(clock, ledger, wire)
        [reset] = sent.custom("reset")
        rows = [(r["text"], r.get("notes")) for r in reset["rows"]]
        assert rows == [
            ("Here it is.", "tool lookup chosen by keyword; a repetition was stopped"),
            ("", "answered from the result"),
        ]
        view.close()
