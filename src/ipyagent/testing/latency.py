"""How fast a running kernel answers: ``kernel_info_request`` sent every few milliseconds on the
shell and control channels from threads of their own, each reply's latency recorded, while IOPub
is read (and counted) so that nothing backs up.

    with KernelProbe(kc, interval=0.02) as probe:
        ...                               # put the kernel under load
    print(probe.shell.summary())

``kc`` is a started :class:`jupyter_client.BlockingKernelClient`; while a probe runs, nothing else
may read its shell, control or IOPub channels.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass
class Pings:
    """The requests sent on one channel: when (seconds since the probe started) and how long
    each reply took (``None``: no reply within the timeout)."""

    channel: str
    sent: list[float] = field(default_factory=list)
    latency: list[float | None] = field(default_factory=list)

    @property
    def answered(self) -> list[float]:
        return [x for x in self.latency if x is not None]

    @property
    def unanswered(self) -> int:
        return sum(1 for x in self.latency if x is None)

    def quantile(self, q: float) -> float:
        xs = sorted(self.answered)
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]

    def over(self, seconds: float) -> int:
        return sum(1 for x in self.answered if x > seconds)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": len(self.latency),
            "unanswered": self.unanswered,
            "p50_ms": self.quantile(0.5) * 1000,
            "p95_ms": self.quantile(0.95) * 1000,
            "p99_ms": self.quantile(0.99) * 1000,
            "max_ms": max(self.answered, default=float("nan")) * 1000,
            "over_50ms": self.over(0.05),
        }


class KernelProbe:
    """Sends ``kernel_info_request`` every ``interval`` seconds on shell and control (a thread
    each; a request waits for its reply, up to ``timeout``, before the next is sent) and drains
    IOPub, counting messages by type."""

    def __init__(self, kc: Any, interval: float = 0.02, timeout: float = 10.0) -> None:
        self.kc = kc
        self.interval = interval
        self.timeout = timeout
        self.shell = Pings("shell")
        self.control = Pings("control")
        self.iopub: Counter[str] = Counter()
        self.iopub_times: list[float] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start = 0.0

    def __enter__(self) -> KernelProbe:
        self._start = time.perf_counter()
        self._threads = [
            threading.Thread(target=self._ping, args=(self.kc.shell_channel, self.shell), daemon=True),
            threading.Thread(target=self._ping, args=(self.kc.control_channel, self.control), daemon=True),
            threading.Thread(target=self._drain, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def _ping(self, channel: Any, pings: Pings) -> None:
        n = 0
        while not self._stop.is_set():
            msg = self.kc.session.msg("kernel_info_request")
            sent = time.perf_counter()
            channel.send(msg)
            pings.sent.append(sent - self._start)
            pings.latency.append(self._reply(channel, msg["header"]["msg_id"], sent))
            n += 1
            # Keep to the schedule; after a slow reply, send the next one at once.
            delay = self._start + n * self.interval - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                n = int((time.perf_counter() - self._start) / self.interval)

    def _reply(self, channel: Any, msg_id: str, sent: float) -> float | None:
        deadline = sent + self.timeout
        while (left := deadline - time.perf_counter()) > 0:
            try:
                reply = channel.get_msg(timeout=left)
            except queue.Empty:
                return None
            if reply["parent_header"].get("msg_id") == msg_id:
                return time.perf_counter() - sent
        return None

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.iopub_channel.get_msg(timeout=0.1)
            except queue.Empty:
                continue
            self.iopub[msg["msg_type"]] += 1
            self.iopub_times.append(time.perf_counter() - self._start)
