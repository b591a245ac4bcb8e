"""The in-memory ledger: append-only, indexed, forks share without copying."""

from __future__ import annotations

import logging
from pathlib import Path

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


def test_a_fork_reads_its_own_entries_not_its_parents_later_ones() -> None:
    parent = filled(3)
    child = parent.fork("main/child")
    for i in range(4):  # the parent goes on, further than the child
        parent.append("assistant", f"parent later {i}", time=10.0 + i)
    child.append("assistant", "child answer", time=20.0)

    assert len(child) == 4
    assert child[-1].text == "child answer"
    assert child[3].text == "child answer"
    assert child.last("assistant") is child[3]
    assert [e.text for e in child[2:]] == ["m2", "child answer"]
    assert [e.text for e in child] == ["m0", "m1", "m2", "child answer"]
    # An index past the fork's end is an error, not one of the parent's later entries.
    with pytest.raises(IndexError, match="has 4 entries; no entry 4"):
        child[4]
    # And the parent is untouched by the child.
    assert parent.last("assistant") is not None
    assert parent.last("assistant").text == "parent later 3"  # type: ignore[union-attr]
    assert len(parent) == 7


def test_a_grandchild_sees_the_chain_it_was_forked_from() -> None:
    root = filled(2)
    child = root.fork("main/c")
    root.append("user", "root later", time=5.0)
    child.append("user", "c1", time=5.0)
    grandchild = child.fork("main/c/g")
    child.append("user", "c later", time=6.0)
    grandchild.append("user", "g1", time=7.0)
    assert [e.text for e in grandchild] == ["m0", "m1", "c1", "g1"]
    assert grandchild[-2].text == "c1"
    assert grandchild.last("user").text == "g1"  # type: ignore[union-attr]


def test_an_entry_is_in_the_file_before_any_view_hears_of_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger.open(path)
    seen_on_disk: list[list[str]] = []

    def view(entry: Entry) -> None:
        # What a crash right now would leave: read the file through a second connection.
        reopened = Ledger.open(path)
        seen_on_disk.append([e.text for e in reopened])
        assert reopened.store is not None
        reopened.store.close()

    ledger.subscribe(view)
    ledger.append("user", "first", time=1.0)
    ledger.append("assistant", "second", time=2.0)
    assert seen_on_disk == [["first"], ["first", "second"]]
