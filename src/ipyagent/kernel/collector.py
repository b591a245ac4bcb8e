"""When the kernel's cyclic garbage collector does its full collections.

A full collection stops every thread of the kernel, for a time that grows with the number of
objects alive: under a heavy agent load (a thousand tools running, a hundred sub-agents) about
60 ms on a 2-core machine, and Python starts one every few seconds. Each delays whatever the
kernel was answering (a kernel_info_request, a completion, a widget's message) by that much, and
they find next to nothing: what an agent makes (tasks, coroutines, events) lives a few seconds,
long enough for Python to count it as old, and is then freed by reference counting.

So while the agents are busy, automatic full collections are held back. One still runs whenever
the interpreter's objects have grown by half since the last, and by a million at least (some
tens of megabytes; ``sys.getallocatedblocks``: a thousand running tools add a few hundred
thousand), and at
least every :data:`BUSY_FULL_EVERY` seconds (for cycles that hold large buffers, which that count
does not see), so garbage with cycles cannot pile up: memory stays bounded, and a steady load,
whose memory is flat, pauses once in that long instead of every few seconds. Once the agents are
settled, Python's own schedule comes back.

The first time they settle, the kernel's start-up heap (IPython, Jupyter, the agent's modules,
which live as long as the kernel) is frozen (``gc.freeze``) after a young collection: full
collections never scan it again. Freezing is instant, where a full collection first would stop
the kernel for tens of milliseconds; the price is that cyclic garbage already old at that moment
is never freed, a bounded amount, once.

Only the ipyagent kernel applies this policy; the magics loaded into another kernel leave its
collector alone.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

BUSY_GROWTH = 1.5  # while busy, a full collection once memory is this many times the last's
BUSY_GROWTH_MIN = 1_000_000  # and this many allocated blocks more
BUSY_FULL_EVERY = 600.0  # seconds: and at least this often
HELD_BACK = 1 << 30  # a threshold for the oldest generation that is never reached


class CollectionPolicy:
    """Holds full collections back while the agents are busy. Call :meth:`update` whenever
    the agents' state may have changed (the session does, once a second and on each message).

    ``allocated`` measures memory (the interpreter's allocated blocks); ``clock`` gives seconds.
    """

    def __init__(
        self,
        allocated: Callable[[], int] = sys.getallocatedblocks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allocated = allocated
        self._clock = clock
        self._last_full = 0.0  # when the last full collection ran, or the agents got busy
        self._threshold = gc.get_threshold()
        self._busy = False
        self._baseline = 0  # memory after the last full collection, or when the agents got busy
        self._heap_settled = False
        self.busy_periods = 0  # times the agents went from settled to busy
        self.pauses: list[float] = []  # each full collection run while busy: how long it stopped the kernel

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def full_collections(self) -> int:
        """How many full collections this policy ran while the agents were busy."""
        return len(self.pauses)

    def update(self, busy: bool) -> None:
        if busy and not self._busy:
            self._threshold = gc.get_threshold()
            gc.set_threshold(self._threshold[0], self._threshold[1], HELD_BACK)
            self._baseline = self._allocated()
            self._last_full = self._clock()
            self.busy_periods += 1
        elif not busy and self._busy:
            gc.set_threshold(*self._threshold)
            if not self._heap_settled:
                gc.collect(1)
                gc.freeze()
                self._heap_settled = True
        elif busy and (
            self._allocated() > max(self._baseline * BUSY_GROWTH, self._baseline + BUSY_GROWTH_MIN)
            or self._clock() - self._last_full >= BUSY_FULL_EVERY
        ):
            self._full_collection()
        self._busy = busy

    def _full_collection(self) -> None:
        start = time.perf_counter()
        found = gc.collect()
        self.pauses.append(time.perf_counter() - start)
        self._baseline = self._allocated()
        self._last_full = self._clock()
        log.debug("ipyagent: full collection while busy: %d found in %.0f ms", found, self.pauses[-1] * 1000)
