"""How many model calls one agent tree may have in flight at once.

A shared model server (vLLM, llama.cpp server) serves requests in arrival order. A notebook whose
model forks fifty sub-agents would put fifty requests in that queue at once, and every other user
of the server would wait behind them. A :class:`ModelCallLimit` shared by an agent and all its
sub-agents lets at most ``limit`` of their generations stream at a time; the others wait here, in
the order they asked, and show that they are waiting. With N notebooks each limited to k calls, a
newcomer's request has at most k x (N - 1) requests ahead of it, whatever one notebook does.

A JupyterHub sets the limit for every user's kernel with ``IPYAGENT_MODEL_CALLS``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import anyio

log = logging.getLogger(__name__)

LIMIT_ENV = "IPYAGENT_MODEL_CALLS"


class ModelCallLimit:
    """At most ``limit`` model calls at once (``None``: no limit); waiting callers go in order.

    Invariant: ``active <= limit`` and ``waiting`` counts the callers blocked in :meth:`slot`.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"a model call limit must be at least 1, got {limit}")
        self.limit = limit
        self.active = 0
        self.waiting = 0
        # anyio's semaphore wakes waiters first come, first served.
        self._slots = anyio.Semaphore(limit) if limit is not None else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ModelCallLimit:
        """The limit ``IPYAGENT_MODEL_CALLS`` asks for; unset or empty means no limit. A value
        that is not a whole number of at least 1 is reported in the log and ignored."""
        raw = (os.environ if environ is None else environ).get(LIMIT_ENV, "").strip()
        if not raw:
            return cls()
        try:
            limit = int(raw)
            if limit < 1:
                raise ValueError(raw)
        except ValueError:
            log.warning(
                "ipyagent: %s=%r is not a whole number of at least 1; model calls are not limited",
                LIMIT_ENV,
                raw,
            )
            return cls()
        return cls(limit)

    @asynccontextmanager
    async def slot(self, on_wait: Callable[[int], None] | None = None) -> AsyncIterator[None]:
        """Hold one of the slots while the body runs. When none is free, ``on_wait(n)`` is called
        first with the number of calls of this tree already in flight."""
        if self._slots is None:
            self.active += 1
            try:
                yield
            finally:
                self.active -= 1
            return
        if self._slots.value == 0 and on_wait is not None:
            on_wait(self.active)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._slots.release()

    def __repr__(self) -> str:
        limit = "no limit" if self.limit is None else f"limit {self.limit}"
        return f"ModelCallLimit({limit}, active {self.active}, waiting {self.waiting})"
