"""A model that fails mid-answer: the ledger keeps what the user received, not what was generated."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ipyagent import Agent, State
from ipyagent.clock import Clock
from ipyagent.dispatch.backends.base import TextChunk
from ipyagent.dispatch.output import PacedOutput
from ipyagent.errors import ModelError
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock

GENERATED = "one two three four five six seven eight"


class FailsAfterStreaming:
    """Streams a whole answer at once, then the connection fails 1.2 s later."""

    name = "fails-after-streaming"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[TextChunk]:
        yield TextChunk(GENERATED)
        await self.clock.sleep(1.2)
        raise ModelError("the connection was reset")


async def test_only_the_words_delivered_before_the_failure_are_kept() -> None:
    async with VirtualClock() as clock:
        output = PacedOutput(clock, words_per_second=2.0)  # one word every 0.5 s
        async with Agent(FailsAfterStreaming(clock), clock=clock, output=output, builtins=False) as agent:
            await agent.send("count to eight")
            await agent.settled()
            entries = [e for e in agent.ledger if e.kind != "system"]
            assert [e.kind for e in entries] == ["user", "assistant", "notification"]
            said, note = entries[1], entries[2]
            # By 1.2 s two words (at 0.5 s and 1.0 s) had reached the user; the other six never did.
            assert (said.text, said.status) == ("one two ", "incomplete")
            assert note.source == "model_error"
            assert "the connection was reset" in note.text
            assert agent.state is State.IDLE
