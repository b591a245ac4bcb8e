"""Reading a fork after its parent moved on, and the promise that what a view shows is already on
disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipyagent.ledger import Entry, Ledger


def filled(n: int) -> Ledger:
    ledger = Ledger("main")
    for i in range(n):
        ledger.append("user", f"m{i}", time=float(i))
    return ledger


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
