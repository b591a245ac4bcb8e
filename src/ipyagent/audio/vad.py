"""Voice activity detection counted in frames.

:class:`VadSegmenter` is a small state machine over QUIET / STARTING / SPEAKING / STOPPING that
counts frames, never wall-clock time, so it behaves the same in tests and live:

- ``onset_frames`` consecutive voiced frames start an utterance (:class:`SpeechStarted`);
- ``pause_frames`` consecutive unvoiced frames mark a pause (:class:`SpeechPaused`, with the audio
  so far): the user may be done, so speech recognition can start early; if speech resumes,
  :class:`SpeechResumed` says the early start was wasted;
- ``hangover_frames`` consecutive unvoiced frames end it (:class:`SpeechEnded`, with the audio,
  including ``preroll_frames`` of audio before the onset so the first syllable is not lost).

The frame classifier is webrtcvad by default; any ``bytes -> bool`` can stand in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from .frames import FrameFormat

Classifier = Callable[[bytes], bool]


class VadState(StrEnum):
    QUIET = "quiet"
    STARTING = "starting"  # voiced frames seen, fewer than onset_frames in a row
    SPEAKING = "speaking"
    STOPPING = "stopping"  # unvoiced frames seen while speaking, fewer than hangover_frames


@dataclass(frozen=True, slots=True)
class VadConfig:
    """Aggressiveness 0 (lenient) to 3 (strict); frame counts are in frames of ``fmt``."""

    aggressiveness: int = 2
    onset_frames: int = 3
    hangover_frames: int = 12
    pause_frames: int = 3
    preroll_frames: int = 10
    max_utterance_frames: int = 1000  # 30 s at 30 ms: an utterance is cut there and ended
    fmt: FrameFormat = field(default_factory=FrameFormat)

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0-3, got {self.aggressiveness}")
        for name in ("onset_frames", "hangover_frames", "max_utterance_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.preroll_frames < 0:
            raise ValueError("preroll_frames must be >= 0")
        if not 1 <= self.pause_frames <= self.hangover_frames:
            raise ValueError("pause_frames must be between 1 and hangover_frames")


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Onset confirmed at ``frame`` (the index of the frame that confirmed it)."""

    frame: int


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    """``pause_frames`` unvoiced frames in a row at ``frame``; ``audio`` is the utterance so far."""

    frame: int
    audio: bytes


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """Speech came back after a :class:`SpeechPaused`: the utterance goes on."""

    frame: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """End of speech decided at ``frame``; ``audio`` is the utterance's PCM16."""

    frame: int
    start_frame: int
    audio: bytes


VadEvent = SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded


def webrtc_classifier(aggressiveness: int, fmt: FrameFormat) -> Classifier:
    import webrtcvad  # lazily: only the voice extra needs it

    vad = webrtcvad.Vad(aggressiveness)
    rate = fmt.sample_rate

    def classify(frame: bytes) -> bool:
        return bool(vad.is_speech(frame, rate))

    return classify


class VadSegmenter:
    """Feed frames one by one; get onset and end-of-speech events.

    Invariant: ``_utterance`` holds the frames of the current utterance (preroll + voiced +
    trailing) exactly while the state is STARTING, SPEAKING or STOPPING.
    """

    def __init__(self, config: VadConfig | None = None, classifier: Classifier | None = None) -> None:
        self.config = config or VadConfig()
        self.classify = classifier or webrtc_classifier(self.config.aggressiveness, self.config.fmt)
        self.state = VadState.QUIET
        self.frames_seen = 0
        self._run = 0  # consecutive voiced (STARTING) or unvoiced (STOPPING) frames
        self._preroll: deque[bytes] = deque(maxlen=self.config.preroll_frames or 1)
        self._utterance: list[bytes] = []
        self._start = 0

    @property
    def speaking(self) -> bool:
        return self.state in (VadState.SPEAKING, VadState.STOPPING)

    def feed(self, frame: bytes) -> list[VadEvent]:
        """Classify one frame (already checked for size) and advance the state machine."""
        cfg = self.config
        index = self.frames_seen
        self.frames_seen += 1
        voiced = self.classify(frame)
        events: list[VadEvent] = []
        match self.state:
            case VadState.QUIET:
                if voiced:
                    self._utterance = list(self._preroll) if cfg.preroll_frames else []
                    self._utterance.append(frame)
                    self._start = index
                    self._run = 1
                    self.state = VadState.STARTING
                    if cfg.onset_frames == 1:
                        self.state = VadState.SPEAKING
                        events.append(SpeechStarted(index))
                elif cfg.preroll_frames:
                    self._preroll.append(frame)
            case VadState.STARTING:
                self._utterance.append(frame)
                if voiced:
                    self._run += 1
                    if self._run >= cfg.onset_frames:
                        self.state = VadState.SPEAKING
                        events.append(SpeechStarted(index))
                else:  # a blip, not speech: forget it, keep its frames as preroll
                    for f in self._utterance[-cfg.preroll_frames :] if cfg.preroll_frames else []:
                        self._preroll.append(f)
                    self._utterance = []
                    self.state = VadState.QUIET
            case VadState.SPEAKING | VadState.STOPPING:
                self._utterance.append(frame)
                if voiced:
                    if self.state is VadState.STOPPING and self._run >= cfg.pause_frames:
                        events.append(SpeechResumed(index))
                    self.state = VadState.SPEAKING
                    self._run = 0
                else:
                    self._run = self._run + 1 if self.state is VadState.STOPPING else 1
                    self.state = VadState.STOPPING
                    if self._run == cfg.pause_frames:
                        events.append(SpeechPaused(index, b"".join(self._utterance)))
                    if self._run >= cfg.hangover_frames:
                        events.append(self._end(index))
                if self.state is not VadState.QUIET and len(self._utterance) >= cfg.max_utterance_frames:
                    events.append(self._end(index))
        return events

    def _end(self, index: int) -> SpeechEnded:
        ended = SpeechEnded(index, self._start, b"".join(self._utterance))
        self._utterance = []
        self._preroll.clear()
        self.state = VadState.QUIET
        self._run = 0
        return ended

    def reset(self) -> None:
        """Forget any utterance in progress (the mic was switched off)."""
        self.state = VadState.QUIET
        self._utterance = []
        self._preroll.clear()
        self._run = 0
