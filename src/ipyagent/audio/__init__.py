"""Voice: microphone and speaker through a browser widget, VAD, speech to text, text to speech,
and barge-in.

    from ipyagent.audio import voice
    voice(agent)                 # shows the voice widget (mic button, level, transcript, speaker)
    voice(agent, tts="espeak")   # lighter voice; "gtts" uses Google's online service

Heavy models (Whisper tiny.en, the piper voice) load on first use, in worker threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..dispatch.output import InterruptionPolicy
from .frames import SAMPLE_RATE, BadFrame, FrameFormat, VoiceError
from .sentences import SentenceChunker
from .vad import SpeechEnded, SpeechStarted, VadConfig, VadSegmenter

if TYPE_CHECKING:
    from ..agents import Agent

__all__ = [
    "SAMPLE_RATE",
    "BadFrame",
    "FrameFormat",
    "InterruptionPolicy",
    "SentenceChunker",
    "SpeechEnded",
    "SpeechStarted",
    "VadConfig",
    "VadSegmenter",
    "VoiceError",
    "voice",
]


def voice(agent: Agent, tts: str = "piper", **options: Any) -> Any:
    """Attach voice to ``agent`` and return the voice widget (display it, or let a cell show it).

    ``tts``: ``"piper"`` (offline, default), ``"espeak"`` (light fallback) or ``"gtts"`` (online).
    Other options go to :class:`ipyagent.widgets.voice.VoiceWidget` (``aggressiveness``,
    ``onset_frames``, ``hangover_frames``; ``turn_detection=False`` ends turns on silence alone;
    ``interruption=InterruptionPolicy(...)`` sets when the user's voice cuts an answer off).
    Raises :class:`VoiceError` with a one-line reason when a component is unusable (say, gtts
    while offline).
    """
    from ..widgets.voice import VoiceWidget

    return VoiceWidget.attach(agent, tts=tts, **options)
