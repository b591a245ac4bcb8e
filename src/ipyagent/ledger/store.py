"""SQLite persistence for ledgers: one file holds a session's whole agent tree.

Each append is its own committed transaction before anyone is told about the entry, so a crash
(even SIGKILL) loses nothing that was shown. WAL journaling with ``synchronous=NORMAL`` is durable
against a process crash; a power cut may lose the last transactions but never corrupts the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import LedgerError
from .entry import Entry

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledgers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES ledgers(id),
    fork_point INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS entries (
    ledger_id INTEGER NOT NULL REFERENCES ledgers(id),
    idx INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (ledger_id, idx)
) WITHOUT ROWID;
"""


class LedgerStore:
    """An open ledger file. Safe to use from several threads (one lock around the connection)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open ledger file {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def create(self, name: str, parent_id: int | None = None, fork_point: int = 0) -> int:
        """Register a ledger and return its id. A name is unique within a file."""
        with self._lock:
            try:
                cur = self._conn.execute(
                    "INSERT INTO ledgers (name, parent_id, fork_point) VALUES (?, ?, ?)",
                    (name, parent_id, fork_point),
                )
            except sqlite3.IntegrityError as exc:
                raise LedgerError(f"a ledger named {name!r} already exists in {self.path}") from exc
            assert cur.lastrowid is not None
            return cur.lastrowid

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot read ledger file {self.path}: {exc}") from None

    def find(self, name: str) -> tuple[int, int | None, int] | None:
        """``(id, parent_id, fork_point)`` of the ledger called ``name``, or ``None``."""
        rows = self._rows("SELECT id, parent_id, fork_point FROM ledgers WHERE name = ?", (name,))
        if not rows:
            return None
        ledger_id, parent_id, fork_point = rows[0]
        if not (
            isinstance(ledger_id, int)
            and (parent_id is None or isinstance(parent_id, int))
            and isinstance(fork_point, int)
        ):
            raise LedgerError(f"ledger file {self.path} is damaged: ledger {name!r} has a bad row")
        return ledger_id, parent_id, fork_point

    def name_of(self, ledger_id: int) -> str:
        rows = self._rows("SELECT name FROM ledgers WHERE id = ?", (ledger_id,))
        if not rows:
            raise LedgerError(f"ledger id {ledger_id} is missing from {self.path}")
        return str(rows[0][0])

    def names(self) -> list[str]:
        return [str(r[0]) for r in self._rows("SELECT name FROM ledgers ORDER BY id")]

    def append(self, ledger_id: int, entry: Entry) -> None:
        """Write one entry and commit it (autocommit: the INSERT is its own transaction)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO entries (ledger_id, idx, body) VALUES (?, ?, ?)",
                (ledger_id, entry.index, entry.to_json()),
            )

    def entries(self, ledger_id: int) -> Iterator[Entry]:
        """The ledger's own entries (not its parent's), in order.

        Raises LedgerError naming the entry when a row is not one this store could have written
        (the file was damaged or edited by hand): nothing is skipped silently.
        """
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT idx, body FROM entries WHERE ledger_id = ? ORDER BY idx", (ledger_id,)
                ).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot read ledger file {self.path}: {exc}") from None
        for idx, body in rows:
            if isinstance(body, bytes):
                try:
                    body = body.decode("utf-8")
                except UnicodeDecodeError:
                    body = None
            try:
                if not isinstance(idx, int) or not isinstance(body, str):
                    raise ValueError("not a ledger entry: the row holds no JSON text")
                yield Entry.from_json(body, idx)
            except ValueError as exc:
                raise LedgerError(
                    f"ledger file {self.path} is damaged at entry {idx!r} of ledger id {ledger_id}: "
                    f"{exc}; open a backup copy or start a new session"
                ) from None

    def integrity_ok(self) -> bool:
        with self._lock:
            return bool(self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
