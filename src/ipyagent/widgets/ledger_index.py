"""Which entries of a ledger a view shows, and where each one sits in the list, for ledgers of
millions of entries: the browser asks for the rows it can see, by position, and never holds the
rest.

An entry is shown when its kind is not hidden and it matches the search (if any); an answer with
nothing to read (a turn that only called tools) is never shown. Kinds come from the ledger's own
:class:`~ipyagent.ledger.kinds.KindIndex` (one byte per entry, counts per block of 4,096), so
opening a view, hiding a kind, finding a position and taking in an append cost the same at ten
entries and at ten million: nothing here reads the entries but the rows sent.

A search reads every entry's text once (:class:`Search`, in steps, so a caller can report
progress and never holds anything for long); the lower-cased texts of each full block are kept,
so the next search over the same ledger runs at ``str.find`` speed.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Final

from ..ledger import Entry, Ledger
from ..ledger.kinds import BLOCK, CODE, KINDS, KindIndex, code_of, kind_table

__all__ = ["BLOCK", "DEFAULT_HIDDEN", "KINDS", "Search", "TextCache", "VisibleIndex", "code_of", "matches"]

DEFAULT_HIDDEN: Final = frozenset({"system"})
MAX_QUERY = 200
SEPARATOR = "\x00"  # between entries in a block's text; never part of a query


def clean_query(query: str) -> str:
    return query.replace(SEPARATOR, "").strip().lower()[:MAX_QUERY]


def haystack(entry: Entry) -> str:
    """What a search looks in: the entry's text, tool name and source, lower-cased."""
    parts = [entry.text, entry.name or "", entry.source or ""]
    return SEPARATOR.join(parts).lower()


def matches(entry: Entry, query: str) -> bool:
    """``query`` (cleaned: lower case) is in the entry's text, tool name or source."""
    return query in haystack(entry)


def _and(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """Byte-wise AND of two 0/1 byte strings of the same length, at C speed."""
    both = int.from_bytes(a, "little") & int.from_bytes(b, "little")
    return both.to_bytes(len(a), "little")


def _nth_one(mask: bytes | bytearray, n: int) -> int:
    """The offset of the ``n``-th (from 0) byte 1 in ``mask``; -1 if there are not that many."""
    if mask.count(1) <= n:
        return -1
    lo, hi = 0, len(mask)  # the smallest end with count(0..end) > n
    while lo < hi:
        mid = (lo + hi) // 2
        if mask.count(1, 0, mid + 1) > n:
            hi = mid
        else:
            lo = mid + 1
    return lo


class TextCache:
    """The lower-cased texts of one ledger's full blocks, each block as one string (entries
    separated by :data:`SEPARATOR`) with the offset where each entry starts. Entries never
    change and full blocks never grow, so what is here stays right."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._blocks: dict[int, tuple[str, array[int]]] = {}

    def block(self, b: int) -> tuple[str, array[int]] | None:
        """Block ``b``'s texts and offsets, or None while the block is not full."""
        found = self._blocks.get(b)
        if found is None:
            lo = b * BLOCK
            if lo + BLOCK > len(self.ledger):
                return None
            parts = [haystack(self.ledger[i]) for i in range(lo, lo + BLOCK)]
            offsets = array("q", itertools.accumulate((len(p) + 1 for p in parts), initial=0))
            found = self._blocks[b] = (SEPARATOR.join(parts), offsets)
        return found


class Search:
    """Which of a ledger's first ``end`` entries contain ``query``, found a block at a time."""

    def __init__(self, ledger: Ledger, query: str, end: int, texts: TextCache) -> None:
        self.ledger, self.query, self.end, self.texts = ledger, query, end, texts
        self.found = bytearray(end)
        self.done_to = 0  # entries searched so far

    @property
    def done(self) -> bool:
        return self.done_to >= self.end

    def step(self, entries: int = 8 * BLOCK) -> bool:
        """Search about ``entries`` more entries; True when the whole range is searched."""
        stop = min(self.end, self.done_to + max(entries, 1))
        while self.done_to < stop:
            lo = self.done_to
            b = lo // BLOCK
            hi = min(self.end, (b + 1) * BLOCK)
            cached = self.texts.block(b) if lo == b * BLOCK and hi == (b + 1) * BLOCK else None
            if cached is not None:
                blob, offsets = cached
                at = blob.find(self.query)
                while at >= 0:
                    k = bisect.bisect_right(offsets, at) - 1
                    self.found[lo + k] = 1
                    at = blob.find(self.query, offsets[k + 1])
            else:
                for i in range(lo, hi):
                    if self.query in haystack(self.ledger[i]):
                        self.found[i] = 1
            self.done_to = hi
        return self.done


class VisibleIndex:
    """The shown entries of one ledger, by position (0 = the oldest shown), among the first
    ``total`` entries: those the view has taken in (it grows with :meth:`append`)."""

    def __init__(
        self,
        ledger: Ledger,
        hidden: Iterable[str] = DEFAULT_HIDDEN,
        *,
        found: Search | None = None,
        texts: TextCache | None = None,
    ) -> None:
        self.entries = ledger
        self.kinds: KindIndex = ledger.kinds()
        self.texts = texts if texts is not None else TextCache(ledger)
        self.total = found.end if found is not None else len(self.kinds)
        self.counts: Counter[str] = Counter(
            {KINDS[c]: n for c, n in enumerate(self.kinds.counts(self.total)) if c and n}
        )
        self.hidden: frozenset[str] = frozenset(k for k in hidden if k in CODE)
        self._wanted = tuple(c for c in range(1, len(KINDS)) if KINDS[c] not in self.hidden)
        self._table = kind_table(KINDS[c] for c in self._wanted)
        # With a search: which entries contain the query, and how many shown before each block.
        self.query = found.query if found is not None else ""
        self._found: bytearray | None = None
        self._before: list[int] = []
        self._shown = sum(self.counts[KINDS[c]] for c in self._wanted)
        if found is not None:
            assert found.done, "a search is used once it is done"
            self._found = found.found
            self._shown = 0
            for b in range(-(-self.total // BLOCK)):
                self._before.append(self._shown)
                self._shown += self._mask(b).count(1)

    def search(self, query: str) -> Search:
        """A search of the entries taken in so far (run its steps, then make the view's index
        with ``VisibleIndex(ledger, hidden, found=search)``)."""
        return Search(self.entries, clean_query(query), self.total, self.texts)

    def with_kinds(self, hidden: Iterable[str]) -> VisibleIndex:
        """This index with other kinds hidden, the same search (no entry read again)."""
        if self._found is None:
            index = VisibleIndex(self.entries, hidden, texts=self.texts)
            index.catch_up(self.total)
            return index
        found = Search(self.entries, self.query, self.total, self.texts)
        found.found, found.done_to = bytearray(self._found), self.total  # a copy: each index appends
        return VisibleIndex(self.entries, hidden, found=found, texts=self.texts)

    def catch_up(self, total: int) -> None:
        """Take in the entries up to ``total`` (an index made on another thread while the view
        kept taking in appends)."""
        for i in range(self.total, total):
            self.append(self.entries[i])

    # --- positions ----------------------------------------------------------------------------

    def _mask(self, b: int) -> bytes:
        """Block ``b`` as bytes, 1 where an entry is shown."""
        lo, hi = b * BLOCK, min(self.total, (b + 1) * BLOCK)
        mask = bytes(self.kinds.codes[lo:hi]).translate(self._table)
        if self._found is not None:
            mask = _and(mask, self._found[lo:hi])
        return mask

    def _shown_before(self, b: int) -> int:
        if self._found is not None:
            return self._before[b]
        return self.kinds.count_before(b, self._wanted)

    def __len__(self) -> int:
        """How many entries are shown."""
        return self._shown

    def append(self, entry: Entry) -> int | None:
        """Take in the next entry of the ledger; its position if it is shown."""
        if entry.index != self.total:
            raise ValueError(f"entry {entry.index} taken in where entry {self.total} belongs")
        code = code_of(entry)
        if code:
            self.counts[KINDS[code]] += 1
        if self._found is not None:
            if self.total % BLOCK == 0:
                self._before.append(self._shown)
            self._found.append(code in self._wanted and self.query in haystack(entry))
            show = bool(self._found[-1])
        else:
            show = code in self._wanted
        self.total += 1
        if not show:
            return None
        self._shown += 1
        return self._shown - 1

    def window(self, start: int, count: int) -> list[int]:
        """Ledger indices of the shown entries at positions ``start`` .. ``start + count - 1``."""
        start = max(0, start)
        if start >= len(self) or count <= 0:
            return []
        blocks = -(-self.total // BLOCK)
        lo, hi = 0, blocks - 1  # the last block with fewer than ``start + 1`` shown before it
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._shown_before(mid) <= start:
                lo = mid
            else:
                hi = mid - 1
        b, skip = lo, start - self._shown_before(lo)
        out: list[int] = []
        while b < blocks and len(out) < count:
            mask = self._mask(b)
            at = _nth_one(mask, skip) if skip else mask.find(1)
            while at >= 0 and len(out) < count:
                out.append(b * BLOCK + at)
                at = mask.find(1, at + 1)
            b, skip = b + 1, 0
        return out

    def position(self, index: int) -> int:
        """The position of the first shown entry at or after ledger index ``index``."""
        index = max(0, min(index, self.total))
        b = index // BLOCK
        if b * BLOCK >= self.total:
            return len(self)
        return self._shown_before(b) + self._mask(b)[: index - b * BLOCK].count(1)
