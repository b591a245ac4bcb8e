"""Which entries of a ledger a view shows, and where each one sits in the list, for ledgers of
millions of entries: the browser asks for the rows it can see, by position, and never holds the
rest.

An entry is shown when its kind is not hidden and it matches the search (if any); an answer with
no text (a turn that only called tools) is never shown. The index keeps one byte per entry (its
kind), one byte per entry (shown or not) and, per block of 4,096 entries, how many are shown
before it: a position is found in a few microseconds and an append costs O(1).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from typing import Final

from ..ledger import Entry, Ledger

KINDS: Final = (
    "empty",  # an assistant entry with no text: never shown
    "system",
    "user",
    "assistant",
    "tool_call",
    "tool_result",
    "notification",
    "interruption",
    "subagent",
)
CODE: Final = {kind: n for n, kind in enumerate(KINDS)}
BLOCK = 4096
DEFAULT_HIDDEN = frozenset({"system"})
MAX_QUERY = 200


def code_of(entry: Entry) -> int:
    if entry.kind == "assistant" and not entry.text.strip() and entry.status in (None, "complete"):
        return 0
    return CODE.get(entry.kind, CODE["notification"])


def matches(entry: Entry, query: str) -> bool:
    """``query`` (lower case) is in the entry's text, tool name or source."""
    return query in entry.text.lower() or any(
        query in value.lower() for value in (entry.name, entry.source) if value
    )


class VisibleIndex:
    """The shown entries of one ledger, by position (0 = the oldest shown)."""

    def __init__(self, entries: Ledger) -> None:
        self.entries = entries
        # One pass over the ledger, at C speed where it can be (the kinds first, then fix-ups).
        other = CODE["notification"]
        self._codes = bytearray([CODE.get(e.kind, other) for e in entries])
        assistant = CODE["assistant"]
        at = self._codes.find(assistant)
        while at >= 0:
            if code_of(entries[at]) == 0:
                self._codes[at] = 0
            at = self._codes.find(assistant, at + 1)
        counts = {kind: self._codes.count(code) for code, kind in enumerate(KINDS) if code}
        self.counts: Counter[str] = Counter({kind: n for kind, n in counts.items() if n})
        self.hidden: frozenset[str] = DEFAULT_HIDDEN
        self.query = ""
        self._shown = bytearray()
        self._before: list[int] = [0]  # _before[b]: entries shown before block b; [-1]: all shown
        self._rebuild()

    # --- what is shown ------------------------------------------------------------------------

    def set_filter(self, hidden: Iterable[str], query: str = "") -> None:
        """Show every kind but ``hidden``, and only entries containing ``query`` (any case)."""
        self.hidden = frozenset(k for k in hidden if k in CODE)
        self.query = query.strip().lower()[:MAX_QUERY]
        self._rebuild()

    def _rebuild(self) -> None:
        table = bytes(1 if 0 < c < len(KINDS) and KINDS[c] not in self.hidden else 0 for c in range(256))
        shown = self._codes.translate(table)
        if self.query:
            found = bytes(matches(e, self.query) for e in self.entries)
            both = int.from_bytes(shown, "little") & int.from_bytes(found, "little")
            shown = bytearray(both.to_bytes(len(shown), "little"))
        self._shown = shown
        self._before = [0]
        for start in range(0, len(shown), BLOCK):
            self._before.append(self._before[-1] + shown.count(1, start, start + BLOCK))

    def _shows(self, entry: Entry, code: int) -> bool:
        if code == 0 or KINDS[code] in self.hidden:
            return False
        return not self.query or matches(entry, self.query)

    def append(self, entry: Entry) -> int | None:
        """Take in an entry appended to the ledger; its position if it is shown."""
        code = code_of(entry)
        self._codes.append(code)
        if code:
            self.counts[KINDS[code]] += 1
        show = self._shows(entry, code)
        self._shown.append(show)
        if (len(self._shown) - 1) % BLOCK == 0:
            self._before.append(self._before[-1])
        if not show:
            return None
        self._before[-1] += 1
        return self._before[-1] - 1

    # --- positions ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many entries are shown."""
        return self._before[-1]

    @property
    def total(self) -> int:
        """How many entries the ledger has."""
        return len(self._codes)

    def window(self, start: int, count: int) -> list[int]:
        """Ledger indices of the shown entries at positions ``start`` .. ``start + count - 1``."""
        start = max(0, start)
        if start >= len(self) or count <= 0:
            return []
        block = bisect.bisect_right(self._before, start) - 1
        skip = start - self._before[block]
        at = self._shown.find(1, block * BLOCK)
        for _ in range(skip):
            at = self._shown.find(1, at + 1)
        out: list[int] = []
        while at >= 0 and len(out) < count:
            out.append(at)
            at = self._shown.find(1, at + 1)
        return out

    def position(self, index: int) -> int:
        """The position of the first shown entry at or after ledger index ``index``."""
        index = max(0, min(index, len(self._shown)))
        block = index // BLOCK
        return self._before[block] + self._shown.count(1, block * BLOCK, index)
