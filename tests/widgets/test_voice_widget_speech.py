"""What the voice widget sends the browser to play: the first piece of an answer is its first
clause, so the user hears it as soon as that clause is synthesised, not the whole first sentence."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from ipyagent import Agent
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock, wait_for
from ipyagent.widgets.voice import VoiceWidget
from support.sounds import needs_espeak


class RecordingWidget(VoiceWidget):
    """The voice widget without a browser: what it would send is kept."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[dict[str, Any]] = []

    def send(self, content: Any, buffers: Any = None) -> None:
        self.sent.append(content)


@needs_espeak
async def test_the_widget_plays_the_first_clause_of_an_answer_first() -> None:
    answer = "It is sunny in Paris right now, with twenty degrees this afternoon. Take a jacket."
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 0.1, "text": answer}], clock)
        async with Agent(backend, clock=clock, builtins=False) as agent:
            widget = RecordingWidget.attach(
                agent, tts="espeak", turn_detection=False, loop=asyncio.get_running_loop()
            )
            assert isinstance(widget, RecordingWidget)
            widget.connected = True  # the browser said it is ready
            await agent.send("What is the weather in Paris?")
            with anyio.fail_after(30):
                await wait_for(agent, lambda: len([m for m in widget.sent if m["type"] == "play"]) >= 2)
            played = [m["text"] for m in widget.sent if m["type"] == "play"]
            assert [text.strip() for text in played[:2]] == [
                "It is sunny in Paris right now,",
                "with twenty degrees this afternoon.",
            ]
            assert widget.pipeline is not None
            widget.pipeline.close()
            widget.close()
