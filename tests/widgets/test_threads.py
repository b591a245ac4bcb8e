"""The agent's loop on its own thread (as the kernel runs it): updates reach the widgets from that
thread, and a chat message arriving on another thread is handed to the agent's loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ipyagent import Agent, RealClock, State
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.widgets import chat_box, ledger_view

STORY = " ".join(f"word{i}" for i in range(200))


def poll(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def agent_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="agent-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_chat_from_another_thread_interrupts_an_agent_on_its_own_loop(
    agent_loop: asyncio.AbstractEventLoop, wire: Any
) -> None:
    clock = RealClock()
    backend = ScriptedBackend.from_list(
        [{"delay": 20.0, "text": STORY}, {"delay": 0.05, "text": "Short."}], clock
    )
    agent = Agent(backend, clock=clock)
    chat = chat_box(agent)
    view = ledger_view(agent)
    sent = wire(view)
    threads: set[str] = set()
    agent.subscribe(lambda _: threads.add(threading.current_thread().name))
    view._receive(view, {"type": "sync"}, [])

    asyncio.run_coroutine_threadsafe(agent.send("Tell me a story"), agent_loop).result(timeout=5)
    poll(lambda: agent.state is State.GENERATING and len(chat.live.split()) >= 3)
    # This thread has no event loop: the message must be handed to the agent's.
    chat._receive(chat, {"type": "send", "text": "Stop, make it short"}, [])
    poll(lambda: agent.is_settled() and agent.ledger[-1].text == "Short.")
    try:
        assert [e.kind for e in agent.ledger][1:] == [
            "user",
            "assistant",
            "interruption",
            "user",
            "assistant",
        ]
        assert agent.ledger[4].source == "chat"
        assert threads == {"agent-loop"}
        # The ledger view's batches, flushed by the timer thread, rebuilt the whole ledger.
        poll(lambda: any(r["i"] == len(agent.ledger) - 1 for m in sent.custom("batch") for r in m["rows"]))
        kinds = ("reset", "rows", "batch")
        seen = sorted({r["i"] for m in sent.custom() if m["type"] in kinds for r in m["rows"]})
        assert seen == list(range(1, len(agent.ledger)))  # all but the system message (hidden)
    finally:
        asyncio.run_coroutine_threadsafe(agent.aclose(), agent_loop).result(timeout=5)
