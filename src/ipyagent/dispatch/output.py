"""Output channels: how generated text reaches the user.

The agent hands each piece of generated text to :meth:`OutputChannel.deliver`, which returns once
the piece has been delivered (shown, or played aloud) and reports progress as it goes. What was
reported is what the ledger keeps when the output is cut off: the user's side of the story.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..clock import Clock

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class InterruptionPolicy:
    """When the user's voice may cut an answer off.

    ``interruptible=False`` marks an answer that must be heard (a confirmation, a warning): speech
    during it does not stop it; the user's words are answered after it. Otherwise a sound counts
    as a barge-in only once it has lasted ``min_seconds`` of voiced speech and brought at least
    ``min_words`` words that are not fillers ("uh", "um"); a shorter sound, or one without words,
    is a false interruption and the answer resumes from the first word the user did not hear.
    ``resume_after`` caps how long, after the sound ends, the answer waits for that verdict.
    """

    interruptible: bool = True
    min_words: int = 1
    min_seconds: float = 0.3
    resume_after: float = 1.5

    def __post_init__(self) -> None:
        if self.min_words < 1:
            raise ValueError("min_words must be at least 1 (a barge-in needs words)")
        if self.min_seconds < 0 or self.resume_after <= 0:
            raise ValueError("min_seconds must be >= 0 and resume_after > 0")


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
