"""The in-memory ledger: append-only, indexed, forks share without copying."""

from __future__ import annotations

import logging

import pytest

from ipyagent.errors import LedgerError
from ipyagent.ledger import Entry, Ledger


def filled(n: int) -> Ledger:
    ledger = Ledger("main")
    for i in range(n):
        ledger.append("user", f"m{i}", time=float(i))
    return ledger


def test_append_index_and_slices() -> None:
    ledger = filled(5)
    assert [e.index for e in ledger] == [0, 1, 2, 3, 4]
    assert ledger[-1].text == "m4"
    assert [e.text for e in ledger[1:4]] == ["m1", "m2", "m3"]
    with pytest.raises(IndexError, match="has 5 entries; no entry 5"):
        ledger[5]
    assert ledger.last("user") is ledger[4]
    assert ledger.last("assistant") is None


def test_forks_share_the_prefix_and_stay_separate() -> None:
    parent = filled(3)
    child = parent.fork("main/child")
    assert len(child) == 3 and child.own == []
    assert all(child[i] is parent[i] for i in range(3))
    parent.append("user", "parent later", time=9.0)
    child.append("assistant", "child only", time=9.0)
    assert [e.text for e in child] == ["m0", "m1", "m2", "child only"]
    assert [e.text for e in parent] == ["m0", "m1", "m2", "parent later"]
    grandchild = child.fork("main/child/g")
    assert grandchild[3] is child[3] and grandchild[0] is parent[0]
    assert len(parent.spawn("main/fresh")) == 0


def test_fork_of_a_long_ledger_copies_nothing() -> None:
    parent = filled(100_000)
    child = parent.fork("main/c")
    assert child.own == [] and child.fork_point == 100_000
    assert child[99_999] is parent[99_999]


def test_bad_fork_points() -> None:
    with pytest.raises(LedgerError, match="needs a parent"):
        Ledger("x", fork_point=3)
    with pytest.raises(LedgerError, match="outside the parent's 2 entries"):
        Ledger("x", parent=filled(2), fork_point=5)


def test_subscribers_after_append_and_failures_contained(caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger()
    seen: list[Entry] = []

    def broken(_: Entry) -> None:
        raise RuntimeError("view crashed")

    ledger.subscribe(broken)
    unsubscribe = ledger.subscribe(seen.append)
    with caplog.at_level(logging.ERROR):
        first = ledger.append("user", "hi", time=1.0)
    assert seen == [first] and len(ledger) == 1
    assert "ledger subscriber" in caplog.text
    unsubscribe()
    ledger.append("user", "again", time=2.0)
    assert seen == [first]


def test_entry_json_round_trip() -> None:
    entry = Entry(
        "tool_call", "", time=3.5, index=7, name="f", call_id="c1", arguments={"a": [1, {"b": "✓"}]}
    )
    assert Entry.from_json(entry.to_json(), 7) == entry
    with pytest.raises(ValueError, match="not a ledger entry"):
        Entry.from_json('{"kind": "nonsense"}', 0)
    with pytest.raises(ValueError, match="not a ledger entry"):
        Entry.from_json("[1, 2]", 0)
