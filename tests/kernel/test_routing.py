"""Which cell shows what: updates reach the view of their own exchange, on virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

from ipyagent import Agent
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.kernel import views
from ipyagent.kernel.routing import ViewRouter
from ipyagent.kernel.views import ExchangeView
from ipyagent.testing import VirtualClock
from ipyagent.throttle import ManualTimer


class Shown:
    """A publisher that keeps every bundle it was given, by display id."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def display(self, display_id: str, bundle: dict[str, Any]) -> None:
        self.sent.append((display_id, bundle["text/plain"]))

    def update(self, display_id: str, bundle: dict[str, Any]) -> None:
        self.sent.append((display_id, bundle["text/plain"]))

    def texts(self, display_id: str) -> list[str]:
        return [text for i, text in self.sent if i == display_id]


async def test_a_cell_view_starts_at_its_own_message_not_at_the_next_cell_message() -> None:
    async with VirtualClock() as clock:
        script = [{"delay": 1, "text": "Answer one."}, {"delay": 1, "text": "Answer two."}]
        async with Agent(ScriptedBackend.from_list(script, clock), clock=clock) as agent:
            router = ViewRouter()
            router.main = agent
            agent.subscribe(router.on_update, children=True)
            loop, shown = asyncio.get_running_loop(), Shown()
            view = ExchangeView(shown, loop, ManualTimer(), "mine", lambda: agent)
            router.expect("x1", view)
            # A cell message that no view sent (code in a cell calling the agent directly), queued
            # first: it must not take the view's place.
            await agent.send("from code", source="cell")
            await agent.send("mine", source="cell", exchange="x1")
            await agent.settled()
            mine = next(e for e in agent.ledger if e.kind == "user" and e.text == "mine")
            assert router.current is view
            assert view.start == mine.index
            assert "Answer one." not in view.render()["text/plain"]
            assert "Answer two." in view.render()["text/plain"]


async def test_a_cell_view_coalesces_a_token_stream_on_virtual_time() -> None:
    async with VirtualClock() as clock:
        words = " ".join(f"w{i}" for i in range(200))
        async with Agent(
            ScriptedBackend.from_list([{"delay": 2, "text": words}], clock), clock=clock
        ) as agent:
            router = ViewRouter()
            router.main = agent
            agent.subscribe(router.on_update, children=True)
            timer, shown = ManualTimer(), Shown()
            view = ExchangeView(shown, asyncio.get_running_loop(), timer, "talk", lambda: agent)
            view.open()
            router.expect("x1", view)
            await agent.send("talk", source="cell", exchange="x1")
            await agent.settled()
            # Nothing moved the views' timer yet: the display counts as a flush, so all 200
            # words wait for one refresh at the end of the interval.
            assert len(shown.texts(view.display_id)) == 1
            timer.advance(view.interval)
            texts = shown.texts(view.display_id)
            assert len(texts) == 2
            assert texts[-1].splitlines()[0] == words
            timer.advance(10 * view.interval)
            assert shown.texts(view.display_id) == texts  # nothing changed: nothing more is sent


async def test_a_view_renders_while_the_agent_thread_delivers_more_text(monkeypatch: Any) -> None:
    """A cell's thread renders the view while the agent's thread adds a generation's text: the
    view shows what it had and never fails (it did, now and then, on the first %agent)."""
    async with (
        VirtualClock() as clock,
        Agent(ScriptedBackend.from_list([{"delay": 1, "text": "Done."}], clock), clock=clock) as agent,
    ):
        router = ViewRouter()
        router.main = agent
        agent.subscribe(router.on_update, children=True)
        view = ExchangeView(Shown(), asyncio.get_running_loop(), ManualTimer(), "talk", lambda: agent)
        router.expect("x1", view)
        await agent.send("talk", source="cell", exchange="x1")
        await agent.settled()
        view.live = {101: "first words", 102: "more words"}
        shown_line = views.answer_line

        def delivered_meanwhile(text: str) -> Any:
            view.live[len(view.live) + 200] = "words that arrived while rendering"
            return shown_line(text)

        monkeypatch.setattr(views, "answer_line", delivered_meanwhile)
        text = view.render()["text/plain"]
        assert "first words" in text and "more words" in text
