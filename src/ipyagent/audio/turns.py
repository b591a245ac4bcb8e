"""Semantic end of turn: has the user finished, or only paused mid-sentence?

Silence alone cannot tell "I want to book a flight to … Paris please" from "What time is it?":
both pause. :class:`SmartTurn` asks Smart Turn v3.2 (Pipecat's open turn-detection model, BSD-2,
an 8 MB ONNX file shipped inside the ``pipecat-ai`` wheel, which is installed without its
dependencies and never imported). It hears the last ≤ 8 s of the user's audio as a Whisper log-mel
spectrogram, computed with faster-whisper's own feature extractor, and returns the probability
that the turn is complete; it runs on onnxruntime (installed with faster-whisper) in about 20 ms.

The model loads on first use, in the calling worker thread.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .frames import SAMPLE_RATE, VoiceError, pcm16_to_float
from .models import Lazy, Status

WINDOW_SECONDS = 8
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"


class TurnDetector(Protocol):
    def complete(self, pcm16: bytes) -> float:
        """Probability (0-1) that the user has finished their turn, given the utterance so far
        as 16 kHz mono PCM16 (blocking)."""
        ...


def smart_turn_path() -> Path:
    """The Smart Turn v3.2 ONNX file inside the installed ``pipecat-ai`` wheel."""
    spec = importlib.util.find_spec("pipecat")  # located, never imported: its dependencies are absent
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError(
            "semantic end of turn needs the Smart Turn model: pip install --no-deps pipecat-ai "
            "(make setup does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "audio/turn/smart_turn/data" / MODEL_FILE
    if not path.is_file():
        raise VoiceError(f"{MODEL_FILE} is missing from the pipecat-ai package at {path.parent}")
    return path


def available() -> bool:
    try:
        smart_turn_path()
    except VoiceError:
        return False
    return True


class SmartTurn:
    """Smart Turn v3.2 on the CPU, one thread."""

    def __init__(self, model_path: str | Path | None = None, status: Status | None = None) -> None:
        self._path = model_path
        self.model: Lazy[tuple[Any, Any]] = Lazy("turn detection (Smart Turn v3.2)", self._load, status)

    def _load(self) -> tuple[Any, Any]:
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        path = Path(self._path) if self._path is not None else smart_turn_path()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        extractor = FeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, chunk_length=WINDOW_SECONDS)
        return session, extractor

    def features(self, pcm16: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The model's input: the last 8 s, zero-padded in front, normalised to zero mean and
        unit variance, as an 80 x 800 Whisper log-mel spectrogram."""
        _, extractor = self.model.get()
        n = SAMPLE_RATE * WINDOW_SECONDS
        audio = pcm16_to_float(pcm16)[-n:]
        audio = np.concatenate([np.zeros(n - len(audio), np.float32), audio])
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        mel = extractor(audio, padding=0)  # 80 x 800, equal to the reference features to 1e-6
        return np.asarray(mel, dtype=np.float32)

    def complete(self, pcm16: bytes) -> float:
        session, _ = self.model.get()
        out = session.run(None, {"input_features": self.features(pcm16)[None]})
        return float(np.asarray(out[0]).reshape(-1)[0])
