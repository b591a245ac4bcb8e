"""Output channels: how generated text reaches the user.

The agent hands each piece of generated text to :meth:`OutputChannel.deliver`, which returns once
the piece has been delivered (shown, or played aloud) and reports progress as it goes. What was
reported is what the ledger keeps when the output is cut off: the user's side of the story.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from ..clock import Clock

Progress = Callable[[str], None]


class OutputChannel(Protocol):
    async def deliver(self, text: str, progress: Progress) -> None:
        """Deliver ``text``, calling ``progress(part)`` for each part as the user receives it."""
        ...


async def finish_output(output: OutputChannel, progress: Progress) -> None:
    """The generation's text is all handed over: let a channel that buffers (speech is spoken
    sentence by sentence, and plays on after ``deliver`` returns) deliver the rest and wait until
    the user has received it all. A channel opts in with ``async def finish(progress)``."""
    finish = getattr(output, "finish", None)
    if finish is not None:
        await finish(progress)


class TextOutput:
    """Text appears at once (cells, the chat box)."""

    async def deliver(self, text: str, progress: Progress) -> None:
        progress(text)


class PacedOutput:
    """Delivers word by word at a speaking pace on the agent's clock; stands in for speech in
    tests and demos (the voice bridge reports real playback progress instead)."""

    def __init__(self, clock: Clock, words_per_second: float = 3.0) -> None:
        if words_per_second <= 0:
            raise ValueError("words_per_second must be positive")
        self.clock = clock
        self.seconds_per_word = 1.0 / words_per_second

    async def deliver(self, text: str, progress: Progress) -> None:
        for word in re.findall(r"\s*\S+\s*|\s+", text):
            await self.clock.sleep(self.seconds_per_word)
            progress(word)
