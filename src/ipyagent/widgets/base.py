"""What every agent widget shares: a subscription to the agent, a throttle, typed messages from
the browser, calls onto the agent's own event loop, and a plain-text fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

import anywidget

from .. import bridge
from ..agents import Agent
from ..agents.updates import Update
from ..errors import IpyagentError, one_line
from ..throttle import DEFAULT_INTERVAL, Throttle, Timer
from .wire import ClientMsg, WireError, parse_client

log = logging.getLogger(__name__)
_HERE = Path(__file__).parent


def esm(name: str) -> str:
    """A widget's ES module: the shared helpers followed by the widget's own file."""
    return (_HERE / "js" / "common.js").read_text(encoding="utf-8") + (_HERE / "js" / name).read_text(
        encoding="utf-8"
    )


CSS = (_HERE / "js" / "widgets.css").read_text(encoding="utf-8")


def _kind(content: Any) -> str:
    """A browser message's type, for the log (never the whole message: it may be huge)."""
    kind = content.get("type") if isinstance(content, dict) else type(content).__name__
    return str(kind)[:40]


def find(agent: Agent, path: str) -> Agent:
    """The agent at ``path`` under ``agent``; an error naming the agents there if none."""
    found = agent.find(path)
    if found is not None:
        return found
    known = ", ".join(a.path for a in agent.walk())
    raise IpyagentError(f"no agent {path[:200]!r} under {agent.path!r}; its agents are: {known}")


class AgentWidget(anywidget.AnyWidget):
    """Base of the agent widgets. Subclasses implement ``collect`` (fold an update into pending
    state; called under the lock, on the agent's thread), ``flush`` (send what is pending; under
    the lock, at most once per interval), ``handle`` (a checked browser message) and ``text``."""

    accepts: ClassVar[frozenset[str]] = frozenset()
    with_children: ClassVar[bool] = False

    def __init__(
        self, agent: Agent, *, interval: float = DEFAULT_INTERVAL, timer: Timer | None = None, **traits: Any
    ) -> None:
        if not isinstance(agent, Agent):
            raise IpyagentError(f"expected an Agent, got {type(agent).__name__}")
        super().__init__(**traits)
        self.agent = agent
        # Invariant: collect() and flush() run under this lock, so a flush never sees half an update.
        self._lock = threading.RLock()
        self._seen_loop: asyncio.AbstractEventLoop | None = None
        self._throttle = Throttle(self._flush_locked, interval, timer)
        self.messages_sent = 0
        self._tasks: set[Any] = set()
        # Views that said hello and not yet goodbye; None until the first hello (a view may be
        # on its way while a cell runs, so until then we assume someone is watching).
        self._views: int | None = None
        self.on_msg(self._receive)
        self._unsubscribe: Callable[[], None] | None = agent.subscribe(
            self._on_update, children=self.with_children
        )

    # --- to implement -------------------------------------------------------------------------

    def collect(self, update: Update) -> bool:
        """Fold ``update`` into what is pending; True if there is something to flush."""
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def handle(self, msg: ClientMsg) -> None:
        raise WireError(f"unexpected message {msg['type']!r}")

    def text(self) -> str:
        raise NotImplementedError

    # --- plumbing -----------------------------------------------------------------------------

    def _on_update(self, update: Update) -> None:
        with contextlib.suppress(RuntimeError):
            self._seen_loop = asyncio.get_running_loop()
        with self._lock:
            dirty = self.collect(update)
        if dirty and self.watched:
            self._throttle.poke()

    def _flush_locked(self) -> None:
        with self._lock:
            if self.watched:
                self.flush()

    @property
    def watched(self) -> bool:
        """False once every view that appeared has gone (its output was cleared or re-run): then
        nothing is sent, so forgotten widgets cannot flood the browser's IOPub channel."""
        return self._views is None or self._views > 0

    def send_msg(self, msg: Any) -> None:
        """Send a custom message to every view (dropped once the widget is closed)."""
        if self.comm is None:
            return
        self.send(msg)
        self.messages_sent += 1

    def _receive(self, _widget: Any, content: Any, _buffers: Any) -> None:
        try:
            msg = parse_client(content, self.accepts | {"hello", "bye"})
            if msg["type"] == "hello":
                self._views = (self._views or 0) + 1
                self._throttle.flush_now()  # what changed while nobody was watching
            elif msg["type"] == "bye":
                self._views = max(0, (self._views or 0) - 1)
            else:
                self.handle(msg)
        except (WireError, IpyagentError) as exc:
            self.send_msg({"type": "error", "text": one_line(str(exc))})
        except Exception as exc:  # a widget bug must never take the kernel down
            log.exception("widget %s failed on a %r message", type(self).__name__, _kind(content))
            self.send_msg({"type": "error", "text": one_line(f"internal error: {type(exc).__name__}: {exc}")})

    def agent_loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the agent runs on: the one it was started on, else (an agent not
        started by us) the one its updates came from."""
        return self.agent.root.loop or self._seen_loop

    def call_on_agent(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the agent's event loop (at once when we are already on it)."""
        loop = self.agent_loop()
        if loop is None or not loop.is_running():
            fn()
            return

        def guarded() -> None:
            try:
                fn()
            except IpyagentError as exc:
                self.send_msg({"type": "error", "text": one_line(str(exc))})

        bridge.call_soon(loop, guarded)

    def run_on_agent(self, coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``coro()`` on the agent's loop (or this thread's running loop for a new agent)."""
        loop = self.agent_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        future: Any  # an asyncio or a concurrent.futures future
        if loop is not None and loop is not running and loop.is_running():
            future = bridge.submit(loop, coro)
        elif running is not None:
            future = running.create_task(coro())
        else:
            raise IpyagentError("the agent is not running: start it with 'await agent.send(...)' in a cell")
        self._tasks.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: Any) -> None:
        self._tasks.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.send_msg({"type": "error", "text": one_line(str(exc))})

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
            self._unsubscribe = None
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            with self._lock:
                data["text/plain"] = self.text()
        return bundle
