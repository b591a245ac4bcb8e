"""Voice: VAD, speech to text, text to speech and barge-in, for an agent whose microphone and
speaker are a browser widget (:func:`ipyagent.widgets.voice`, which shows it).

Heavy models (Whisper tiny.en, the piper voice) load on first use, in worker threads.
"""

from __future__ import annotations

from ..dispatch.output import InterruptionPolicy
from .frames import SAMPLE_RATE, BadFrame, FrameFormat, VoiceError
from .sentences import SentenceChunker
from .vad import SpeechEnded, SpeechStarted, VadConfig, VadSegmenter

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
]
