"""Voice activity detection counted in frames.

:class:`VadSegmenter` is a small state machine over QUIET / STARTING / SPEAKING / STOPPING that
counts frames, never wall-clock time, so it behaves the same in tests and live:

- ``onset_frames`` consecutive voiced frames start an utterance (:class:`SpeechStarted`);
- ``pause_frames`` consecutive unvoiced frames mark a pause (:class:`SpeechPaused`, with the audio
  so far): the user may be done, so speech recognition can start early; if speech resumes,
  :class:`SpeechResumed` says the early start was wasted;
- ``hangover_frames`` consecutive unvoiced frames end it (:class:`SpeechEnded`, with the audio,
  including ``preroll_frames`` of audio before the onset so the first syllable is not lost).

Switching the microphone on must not count as speech: a fresh webrtcvad calls the first frames of
room noise voiced, and the click of a mic going live is loud. So after a start (or :meth:`reset`) the
first ``calibration_frames`` only measure the room: no onset can happen during them, and from then
on a frame can start an utterance only if it is also ``onset_ratio`` times louder (RMS) than the
room's noise floor, which keeps following the room while it is quiet.

The end of an utterance can also be decided from outside: a turn-detection model that hears the
user is done calls :meth:`VadSegmenter.end_now`; one that hears the user is mid-sentence lets the
longer ``max_hangover_frames`` apply instead (:meth:`VadSegmenter.hold`).

The frame classifier is webrtcvad by default; any ``bytes -> bool`` can stand in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from .frames import FrameFormat

Classifier = Callable[[bytes], bool]
# The loudest room noise (RMS of PCM16, about -44 dBFS) the onset gate adapts to; speech at a
# normal distance from the mic is well above it.
MAX_NOISE_FLOOR = 200.0


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
    calibration_frames: int = 10  # after (re)start: only measure the room (0: no noise gate)
    onset_ratio: float = 3.0  # an onset frame is this many times louder than the noise floor
    max_hangover_frames: int = 50  # silence that ends an utterance heard as unfinished (1.5 s)
    fmt: FrameFormat = field(default_factory=FrameFormat)

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0-3, got {self.aggressiveness}")
        for name in ("onset_frames", "hangover_frames", "max_utterance_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.preroll_frames < 0 or self.calibration_frames < 0:
            raise ValueError("preroll_frames and calibration_frames must be >= 0")
        if self.onset_ratio < 1:
            raise ValueError("onset_ratio must be >= 1")
        if self.max_hangover_frames < self.hangover_frames:
            raise ValueError("max_hangover_frames must be >= hangover_frames")
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
    """End of speech decided at ``frame``; ``audio`` is the utterance's PCM16; ``voiced_frames``
    counts its voiced frames (a cough has few)."""

    frame: int
    start_frame: int
    audio: bytes
    voiced_frames: int = 0


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
        self._voiced = 0  # voiced frames in the current utterance
        self._hangover = self.config.hangover_frames  # in force for the current utterance
        self._calibrating = self.config.calibration_frames
        self._noise: list[float] = []  # RMS of the calibration frames
        self.noise_floor = 0.0
        self.last_voiced = False

    @property
    def silent_frames(self) -> int:
        """Unvoiced frames in a row at the end of the utterance in progress (0 if none)."""
        return self._run if self.state is VadState.STOPPING else 0

    def audio_so_far(self) -> bytes:
        """The utterance in progress (preroll included)."""
        return b"".join(self._utterance)

    @property
    def calibrating(self) -> bool:
        return self._calibrating > 0

    def _loud_enough(self, frame: bytes) -> tuple[bool, float]:
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
        rms = float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0
        return rms > self.noise_floor * self.config.onset_ratio, rms

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
        if self._calibrating:  # the room, not the user: measure it, start nothing
            self._calibrating -= 1
            self._noise.append(self._loud_enough(frame)[1])
            if not self._calibrating:
                # Capped: a mic switched on mid-word must not take the voice for the room.
                self.noise_floor = min(float(np.median(self._noise)), MAX_NOISE_FLOOR)
            self.last_voiced = False
            return events
        if self.config.calibration_frames and self.state in (VadState.QUIET, VadState.STARTING):
            loud, rms = self._loud_enough(frame)
            if not voiced or not loud:
                # Follow the room while nobody speaks (slowly, so a blip cannot raise it much).
                floor = 0.95 * self.noise_floor + 0.05 * min(rms, 4 * self.noise_floor + 1)
                self.noise_floor = min(floor, MAX_NOISE_FLOOR)
            voiced = voiced and loud
        self.last_voiced = voiced
        match self.state:
            case VadState.QUIET:
                if voiced:
                    self._utterance = list(self._preroll) if cfg.preroll_frames else []
                    self._utterance.append(frame)
                    self._start = index
                    self._run = 1
                    self._voiced = 1
                    self._hangover = cfg.hangover_frames
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
                    self._voiced += 1
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
                    self._voiced += 1
                    self._hangover = cfg.hangover_frames
                else:
                    self._run = self._run + 1 if self.state is VadState.STOPPING else 1
                    self.state = VadState.STOPPING
                    if self._run == cfg.pause_frames:
                        events.append(SpeechPaused(index, b"".join(self._utterance)))
                    if self._run >= self._hangover:
                        events.append(self._end(index))
                if self.state is not VadState.QUIET and len(self._utterance) >= cfg.max_utterance_frames:
                    events.append(self._end(index))
        return events

    def end_now(self) -> SpeechEnded | None:
        """End the utterance now (the user was heard to be done), if one is pausing."""
        if self.state is not VadState.STOPPING:
            return None
        return self._end(self.frames_seen - 1)

    def end_here(self) -> SpeechEnded | None:
        """The microphone stopped sending: end the utterance in progress with what was heard,
        whether the user was speaking or pausing. A sound too short to have started an
        utterance is forgotten."""
        if self.state is VadState.STARTING:
            self.state = VadState.QUIET
            self._utterance = []
            self._run = 0
            return None
        if not self.speaking:
            return None
        return self._end(self.frames_seen - 1)

    def hold(self) -> None:
        """The user was heard to be mid-sentence: wait up to ``max_hangover_frames`` of silence
        before ending this utterance (speech resuming sets the usual hangover again)."""
        if self.speaking:
            self._hangover = self.config.max_hangover_frames

    def _end(self, index: int) -> SpeechEnded:
        ended = SpeechEnded(index, self._start, b"".join(self._utterance), self._voiced)
        self._utterance = []
        self._preroll.clear()
        self.state = VadState.QUIET
        self._run = 0
        return ended

    def reset(self) -> None:
        """Forget any utterance in progress (the mic was switched off or on); measure the room
        again before the next onset."""
        self.state = VadState.QUIET
        self._utterance = []
        self._preroll.clear()
        self._run = 0
        self._voiced = 0
        self._calibrating = self.config.calibration_frames
        self._noise = []
