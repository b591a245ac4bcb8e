"""Retained memory while one fault is injected over and over, next to what the ledger needs."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ipyagent import Entry


def _size(value: Any) -> int:
    if isinstance(value, Mapping):
        return sys.getsizeof(value) + sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sys.getsizeof(value) + sum(_size(v) for v in value)
    return sys.getsizeof(value)


def entry_bytes(entries: Iterable[Entry]) -> int:
    """Bytes held by ledger entries: each object, its text and fields, and its list slot."""
    total = 0
    for entry in entries:
        total += sys.getsizeof(entry) + 8
        total += sum(
            _size(getattr(entry, f.name)) for f in fields(entry) if getattr(entry, f.name) is not None
        )
    return total


@dataclass(frozen=True)
class Growth:
    """Memory still held after ``injected`` more faults, next to what their ledger entries hold."""

    injected: int  # faults measured
    retained: int  # bytes still allocated after them
    ledger: int  # bytes the ledger entries they added hold

    @property
    def beyond_ledger_per_fault(self) -> float:
        return (self.retained - self.ledger) / self.injected

    def __str__(self) -> str:
        return (
            f"over {self.injected} faults: retained {self.retained / 1024:.0f} KiB, ledger entries "
            f"{self.ledger / 1024:.0f} KiB, {self.beyond_ledger_per_fault:+.0f} B/fault beyond the ledger"
        )


def _current() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def measure(
    inject: Callable[[], Awaitable[None]],
    entries: Callable[[], list[Entry]],
    n: int,
    *,
    per_call: int = 1,
    warmup: int = 20,
) -> Growth:
    """Call ``inject`` ``warmup`` times (caches, imports, first connections), then ``n`` times
    (each injecting ``per_call`` faults), and compare the memory still held with the ledger
    entries those ``n`` calls added.

    Tracing starts two injections before the measured ones, so what the last injection leaves
    behind (its request, its error) is traced both before and after, and cancels out."""
    for _ in range(warmup):
        await inject()
    tracemalloc.start()
    try:
        for _ in range(2):
            await inject()
        before, held_before = _current(), entry_bytes(entries())
        for _ in range(n):
            await inject()
        after, held_after = _current(), entry_bytes(entries())
    finally:
        tracemalloc.stop()
    return Growth(n * per_call, after - before, held_after - held_before)
