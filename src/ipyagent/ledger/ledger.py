"""The append-only ledger, with O(1) forks.

A forked ledger does not copy its parent: it keeps a reference to the parent and the number of
parent entries it shares (``fork_point``), and appends to its own tail. Entries are immutable, so
the parent and the fork hold the very same objects for the shared prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, overload

from ..errors import LedgerError
from ..redaction import redact, redact_value
from .entry import Entry, EntryKind
from .kinds import KindIndex, code_of
from .store import LedgerStore

log = logging.getLogger(__name__)

Subscriber = Callable[[Entry], None]


class Ledger:
    """An ordered, append-only sequence of :class:`Entry`, optionally persisted in a store.

    Invariant: ``len(self) == fork_point + len(_own)`` and ``self[i] is parent[i]`` for
    ``i < fork_point``; an entry is in ``_own`` only after the store committed it.
    """

    def __init__(
        self,
        name: str = "main",
        *,
        store: LedgerStore | None = None,
        parent: Ledger | None = None,
        fork_point: int = 0,
        _ledger_id: int | None = None,
        _own: list[Entry] | None = None,
    ) -> None:
        if parent is None and fork_point:
            raise LedgerError("a fork point needs a parent ledger")
        if parent is not None and not 0 <= fork_point <= len(parent):
            raise LedgerError(f"fork point {fork_point} is outside the parent's {len(parent)} entries")
        self.name = name
        self.parent = parent
        self.fork_point = fork_point
        self.store = store
        self._own: list[Entry] = _own if _own is not None else []
        self._subscribers: list[Subscriber] = []
        # The kinds of all entries: kept from the start for a ledger of its own; a fork's is made
        # when first asked for (forking stays O(1)) and kept from then on.
        self._kinds: KindIndex | None = KindIndex(code_of(e) for e in self._own) if parent is None else None
        self._ledger_id: int | None
        if _ledger_id is None and store is not None:
            parent_id = parent._ledger_id if parent is not None else None
            _ledger_id = store.create(name, parent_id, fork_point)
        self._ledger_id = _ledger_id

    # --- opening and branching ----------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, name: str = "main") -> Ledger:
        """Open the ledger ``name`` in the file at ``path``, creating both if needed.

        Reopening a file resumes it: every committed entry is back, forks still share their
        parent's entries.
        """
        return cls.load(LedgerStore(path), name)

    @classmethod
    def load(cls, store: LedgerStore, name: str, *, _children: frozenset[int] = frozenset()) -> Ledger:
        """The ledger ``name`` in ``store`` (a new, empty one if there is none). Raises
        LedgerError, naming the problem, for a damaged file."""
        found = store.find(name)
        if found is None:
            return cls(name, store=store)
        ledger_id, parent_id, fork_point = found
        if ledger_id in _children:
            raise LedgerError(f"ledger file {store.path} is damaged: ledger {name!r} is its own ancestor")
        parent = None
        if parent_id is not None:
            parent = cls.load(store, store.name_of(parent_id), _children=_children | {ledger_id})
        own = list(store.entries(ledger_id))
        for position, entry in enumerate(own):
            if entry.index != fork_point + position:
                raise LedgerError(
                    f"ledger file {store.path} is damaged: ledger {name!r} has entry {entry.index} "
                    f"where entry {fork_point + position} belongs (entries are missing)"
                )
        return cls(name, store=store, parent=parent, fork_point=fork_point, _ledger_id=ledger_id, _own=own)

    def fork(self, name: str) -> Ledger:
        """A new ledger that starts with everything here so far (shared, not copied)."""
        return Ledger(name, store=self.store, parent=self, fork_point=len(self))

    def spawn(self, name: str) -> Ledger:
        """A new, empty ledger in the same store."""
        return Ledger(name, store=self.store)

    # --- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.fork_point + len(self._own)

    def __iter__(self) -> Iterator[Entry]:
        if self.parent is not None:
            for i in range(self.fork_point):
                yield self.parent[i]
        yield from self._own

    @overload
    def __getitem__(self, i: int) -> Entry: ...
    @overload
    def __getitem__(self, i: slice) -> list[Entry]: ...

    def __getitem__(self, i: int | slice) -> Entry | list[Entry]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"ledger {self.name!r} has {len(self)} entries; no entry {i}")
        if i < self.fork_point:
            assert self.parent is not None
            return self.parent[i]
        return self._own[i - self.fork_point]

    @property
    def own(self) -> list[Entry]:
        """Entries appended to this ledger itself (after the fork point)."""
        return list(self._own)

    def kinds(self) -> KindIndex:
        """The kind of every entry, by index, with counts per block (see :mod:`.kinds`): what a
        view of a long ledger reads instead of the entries. Kept up to date by :meth:`append`."""
        if self._kinds is None:
            assert self.parent is not None
            kinds = KindIndex.prefix(self.parent.kinds(), self.fork_point)
            kinds.extend(code_of(e) for e in self._own)
            self._kinds = kinds
        return self._kinds

    def last(self, kind: EntryKind) -> Entry | None:
        """The most recent entry of ``kind``, or ``None``."""
        for i in range(len(self) - 1, -1, -1):
            if self[i].kind == kind:
                return self[i]
        return None

    # --- writing ------------------------------------------------------------------------------

    def append(self, kind: EntryKind, text: str = "", *, time: float, **fields: Any) -> Entry:
        """Append an entry, commit it to the store, then tell subscribers. Returns the entry.

        Secrets (API keys, tokens; see :mod:`ipyagent.redaction`) are removed first: whatever
        a tool, a server or a user let through, the ledger never holds one."""
        arguments = fields.get("arguments")
        if arguments is not None:
            clean = redact_value(dict(arguments))
            if clean != arguments:
                fields["arguments"] = clean
        if isinstance(fields.get("name"), str):
            fields["name"] = redact(fields["name"])
        entry = Entry(kind, redact(text), time=time, index=len(self), **fields)
        if self.store is not None:
            assert self._ledger_id is not None
            self.store.append(self._ledger_id, entry)
        self._own.append(entry)
        if self._kinds is not None:
            self._kinds.append(code_of(entry))
        for subscriber in list(self._subscribers):
            try:
                subscriber(entry)
            except Exception:  # a broken view must not lose entries or stop the agent
                log.exception("ledger subscriber %r failed", subscriber)
        return entry

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(entry)`` after each append; returns a function that unsubscribes."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def __repr__(self) -> str:
        return f"<Ledger {self.name!r}: {len(self)} entries>"
