"""Which kind each entry of a ledger is, kept as the ledger grows, so that a view of a ledger of
millions of entries can count and find entries of some kinds without reading them.

The index holds one byte per entry (its kind's code) and, at the start of every block of
:data:`BLOCK` entries, how many entries of each kind came before. An append costs O(1); how many
entries of some kinds lie before any index costs O(BLOCK), whatever the ledger's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, get_args

from .entry import Entry, EntryKind
from .text import is_empty_answer, notes_of

# Codes: 0 for an answer with nothing to read (a turn that only called tools), then the kinds.
KINDS: Final = ("empty", *get_args(EntryKind))
CODE: Final = {kind: n for n, kind in enumerate(KINDS)}
BLOCK: Final = 4096


def code_of(entry: Entry) -> int:
    """The code of ``entry``'s kind in :data:`KINDS` (0: an answer with nothing to show)."""
    if entry.kind == "assistant" and is_empty_answer(entry) and not notes_of(entry):
        return 0
    return CODE.get(entry.kind, CODE["notification"])


def kind_table(kinds: Iterable[str]) -> bytes:
    """A ``bytes.translate`` table mapping the codes of ``kinds`` to 1 and every other byte to 0."""
    wanted = {CODE[k] for k in kinds if k in CODE}
    return bytes(1 if c in wanted else 0 for c in range(256))


class KindIndex:
    """The kinds of a ledger's entries, by ledger index. Appended to by the ledger only."""

    def __init__(self, codes: Iterable[int] = ()) -> None:
        self.codes = bytearray()
        # before[b][c]: entries of code c among the indices below b * BLOCK (one row per block started)
        self.before: list[tuple[int, ...]] = []
        self.extend(codes)

    def extend(self, codes: Iterable[int]) -> None:
        """Append many codes (at C speed: whole blocks are counted with ``bytes.count``)."""
        start = len(self.codes)
        self.codes.extend(codes)
        first = -(-start // BLOCK)  # the first block that starts at or after ``start``
        for b in range(first, -(-len(self.codes) // BLOCK)):
            self._start_block(b)

    def append(self, code: int) -> None:
        if len(self.codes) % BLOCK == 0:
            self._start_block(len(self.codes) // BLOCK)
        self.codes.append(code)

    def _start_block(self, b: int) -> None:
        if b == 0:
            self.before.append((0,) * len(KINDS))
            return
        lo = (b - 1) * BLOCK
        prev = self.before[b - 1]
        self.before.append(tuple(prev[c] + self.codes.count(c, lo, lo + BLOCK) for c in range(len(KINDS))))

    def __len__(self) -> int:
        return len(self.codes)

    def counts(self, end: int | None = None) -> list[int]:
        """How many entries of each code lie below index ``end`` (default: all)."""
        end = len(self.codes) if end is None else max(0, min(end, len(self.codes)))
        b = end // BLOCK
        if b >= len(self.before):  # ``end`` is the start of a block not begun yet
            b -= 1
        if b < 0:
            return [0] * len(KINDS)
        lo = b * BLOCK
        return [n + self.codes.count(c, lo, end) for c, n in enumerate(self.before[b])]

    def count_before(self, b: int, wanted: Sequence[int]) -> int:
        """How many entries with a code in ``wanted`` lie below block ``b`` (which has begun)."""
        row = self.before[b]
        return sum(row[c] for c in wanted)

    @classmethod
    def prefix(cls, other: KindIndex, end: int) -> KindIndex:
        """The index of the first ``end`` entries of ``other`` (a fork's shared part): its bytes
        are copied, its block counts reused."""
        index = cls()
        index.codes = other.codes[:end]
        index.before = other.before[: -(-end // BLOCK)]
        return index
