"""Audio the tests make (espeak-ng speech mixed with silence, as 16 kHz PCM16) and a speech
recogniser that always hears the same words."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest

from ipyagent.audio.frames import SAMPLE_RATE, FrameFormat, Int16Array, read_wav, resample, split_frames

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


def speech(text: str, wpm: int = 160, *, ssml: bool = False) -> Int16Array:
    """``text`` spoken by espeak-ng (``ssml``: read as SSML, for pauses), resampled to 16 kHz."""
    assert ESPEAK is not None
    markup = ["-m"] if ssml else []
    wav = subprocess.run(
        [ESPEAK, "--stdout", "-s", str(wpm), *markup, text], capture_output=True, check=True
    ).stdout
    samples, rate = read_wav(wav)
    return resample(samples, rate, SAMPLE_RATE)


def silence(seconds: float) -> Int16Array:
    # A little noise, as a real room has; webrtcvad must still call it silence.
    rng = np.random.default_rng(7)
    return rng.normal(0, 8, round(seconds * SAMPLE_RATE)).astype(np.int16)


def frames_of(*parts: Int16Array, fmt: FrameFormat | None = None) -> list[bytes]:
    return split_frames(np.concatenate(parts).astype("<i2").tobytes(), fmt or FrameFormat())


def voiced_span(samples: Int16Array, threshold: int = 500) -> tuple[float, float]:
    """Seconds from the start of ``samples`` to the first and past the last loud sample."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return loud[0] / SAMPLE_RATE, (loud[-1] + 1) / SAMPLE_RATE


@dataclass
class FixedTranscriber:
    """Hears ``text`` in any audio (and counts how often it was asked)."""

    text: str
    heard: int = 0

    def transcribe(self, pcm16: bytes) -> str:
        self.heard += 1
        return self.text
