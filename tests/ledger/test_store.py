"""Persistence: every committed entry survives a crash and a reopen, forks included."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ipyagent.errors import LedgerError
from ipyagent.ledger import Ledger, LedgerStore
from ipyagent.testing import kill_after_lines

WRITER = Path(__file__).with_name("crash_writer.py")


def test_reopen_gives_back_every_entry_and_the_fork_structure(tmp_path: Path) -> None:
    path = tmp_path / "session.sqlite"
    main = Ledger.open(path)
    for i in range(5):
        main.append("user", f"hello {i} ✓", time=100.0 + i, arguments={"nested": {"list": [1, "two"]}})
    child = main.fork("main/child")
    child.append("assistant", "child says hi", time=200.0, status="complete")
    main.append("assistant", "after the fork", time=300.0)
    fresh = main.spawn("main/fresh")
    fresh.append("system", "fresh start", time=400.0)
    main.store.close()  # type: ignore[union-attr]

    store = LedgerStore(path)
    again = Ledger.load(store, "main")
    assert list(again) == list(main)
    child_again = Ledger.load(store, "main/child")
    assert [e.text for e in child_again] == [*[f"hello {i} ✓" for i in range(5)], "child says hi"]
    assert child_again.fork_point == 5
    assert child_again[4].arguments == {"nested": {"list": [1, "two"]}}
    assert [e.text for e in Ledger.load(store, "main/fresh")] == ["fresh start"]
    assert store.names() == ["main", "main/child", "main/fresh"]
    assert store.integrity_ok()


def test_reopened_fork_shares_its_parents_entry_objects(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    main = Ledger.open(path)
    main.append("user", "a", time=0.0)
    main.fork("main/f").append("user", "b", time=1.0)
    fork = Ledger.open(path, "main/f")
    assert fork.parent is not None
    assert fork[0] is fork.parent[0]


def test_duplicate_names_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    main = Ledger.open(tmp_path / "s.sqlite")
    main.fork("main/x")
    with pytest.raises(LedgerError, match="a ledger named 'main/x' already exists"):
        main.fork("main/x")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(LedgerError, match=f"cannot open ledger file {junk}"):
        Ledger.open(junk)


def test_wal_journal(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "s.sqlite")
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 150, 600])
def test_sigkill_mid_write_loses_no_committed_entry(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "crash.sqlite"
    committed: dict[str, set[int]] = {"main": set(), "main/side": set()}
    for line in kill_after_lines([sys.executable, str(WRITER), str(path)], kill_after):
        name, index = line.split()
        committed[name].add(int(index))
    store = LedgerStore(path)
    assert store.integrity_ok()
    main = Ledger.load(store, "main")
    indices = [e.index for e in main]
    assert indices == list(range(len(main)))  # contiguous, no gaps
    assert committed["main"] <= set(indices)  # 0 committed entries lost
    assert all(e.text.startswith(f"message {e.index} ") for e in main)
    if committed["main/side"]:
        side = Ledger.load(store, "main/side")
        assert committed["main/side"] <= {e.index for e in side.own}
        assert side.fork_point == 11


def test_a_ledger_file_is_written_from_another_thread(tmp_path: Path) -> None:
    """Tools that run in threads record through the same open file."""
    import threading

    ledger = Ledger.open(tmp_path / "threads.sqlite")
    failures: list[BaseException] = []

    def append() -> None:
        try:
            ledger.append("user", "from a thread", time=1.0)
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=append)
    worker.start()
    worker.join(timeout=30)
    assert failures == []
    assert [e.text for e in Ledger.open(tmp_path / "threads.sqlite")] == ["from a thread"]
