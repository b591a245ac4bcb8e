"""Microphone frames as the kernel receives them, and small PCM helpers.

The browser sends 16 kHz mono signed 16-bit little-endian PCM in frames of 10, 20 or 30 ms (the
sizes webrtcvad accepts). Anything else is rejected with :class:`BadFrame`, whose message says what
was wrong; the bridge logs it and carries on.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import IpyagentError

SAMPLE_RATE = 16_000
FRAME_MS = (10, 20, 30)
Int16Array = npt.NDArray[np.int16]


class VoiceError(IpyagentError):
    """Raised when a voice component cannot be used: a model or program missing, or no network
    for an online service. The message says what to install or choose instead."""


class BadFrame(VoiceError):
    """Raised when a microphone frame has the wrong type, size or sample rate."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"microphone frame rejected: {reason}")


@dataclass(frozen=True, slots=True)
class FrameFormat:
    """The frame size the VAD counts in; 30 ms by default."""

    frame_ms: int = 30
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if self.frame_ms not in FRAME_MS:
            raise ValueError(f"frame_ms must be one of {FRAME_MS}, got {self.frame_ms}")
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"the voice pipeline runs at {SAMPLE_RATE} Hz, got {self.sample_rate}")

    @property
    def samples(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def nbytes(self) -> int:
        return self.samples * 2

    def seconds(self, frames: int) -> float:
        return frames * self.frame_ms / 1000


def check_frame(data: Any, sample_rate: Any, fmt: FrameFormat) -> bytes:
    """Return the frame as ``bytes`` if it is usable, else raise :class:`BadFrame`."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    elif isinstance(data, bytearray):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise BadFrame(f"expected binary PCM16, got {type(data).__name__}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
        raise BadFrame(f"sample rate must be a number, got {sample_rate!r}")
    if sample_rate != fmt.sample_rate:
        raise BadFrame(f"sample rate {sample_rate!r} Hz; the browser must resample to {fmt.sample_rate} Hz")
    if len(data) != fmt.nbytes:
        raise BadFrame(
            f"{len(data)} bytes; a {fmt.frame_ms} ms frame of 16-bit mono at {fmt.sample_rate} Hz "
            f"is {fmt.nbytes} bytes"
        )
    return data


def split_frames(pcm: bytes, fmt: FrameFormat) -> list[bytes]:
    """Cut PCM16 into whole frames (a trailing partial frame is dropped)."""
    n = fmt.nbytes
    return [pcm[i : i + n] for i in range(0, len(pcm) - n + 1, n)]


def resample(samples: Int16Array, rate: int, target: int) -> Int16Array:
    """Linear-interpolation resampling; good enough for speech going to the VAD or a speaker."""
    if rate == target or len(samples) == 0:
        return samples
    n = round(len(samples) * target / rate)
    x = np.linspace(0, len(samples) - 1, n)
    out = np.interp(x, np.arange(len(samples)), samples.astype(np.float32))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def pcm16_to_float(pcm: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def read_wav(data: bytes) -> tuple[Int16Array, int]:
    """Decode a 16-bit PCM WAV (mono, or the first channel of several) to samples and rate."""
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit WAV, got {8 * w.getsampwidth()}-bit")
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        channels = w.getnchannels()
        rate = w.getframerate()
    return raw[::channels].astype(np.int16), rate


def write_wav(samples: Int16Array, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()
