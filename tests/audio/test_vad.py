"""The VAD counts frames: onset, hangover and preroll are exact frame counts, on recorded speech too."""

from __future__ import annotations

import pytest

from ipyagent.audio import FrameFormat, SpeechEnded, SpeechStarted, VadConfig, VadSegmenter
from ipyagent.audio.vad import SpeechPaused, SpeechResumed, VadState
from support.sounds import frames_of, needs_espeak, silence, speech, voiced_span


def scripted(pattern: str) -> tuple[VadSegmenter, list[bytes]]:
    """A segmenter whose classifier replays ``pattern`` ('x' voiced, '.' not) frame by frame."""
    verdicts = iter(pattern)
    seg = VadSegmenter(
        VadConfig(onset_frames=3, hangover_frames=4, preroll_frames=2, calibration_frames=0),
        lambda _: next(verdicts) == "x",
    )
    frames = [bytes([i % 256]) * FrameFormat().nbytes for i in range(len(pattern))]
    return seg, frames


def run(seg: VadSegmenter, frames: list[bytes]) -> list[SpeechStarted | SpeechEnded]:
    return [e for f in frames for e in seg.feed(f)]


def test_onset_after_three_voiced_frames_and_end_after_four_silent() -> None:
    seg, frames = scripted("....xxx" + "xx" + "..." + "x" + "...." + "..")
    events = run(seg, frames)
    nbytes = FrameFormat().nbytes
    assert [type(e) for e in events] == [
        SpeechStarted,
        SpeechPaused,
        SpeechResumed,
        SpeechPaused,
        SpeechEnded,
    ]
    assert events[0] == SpeechStarted(6)  # third voiced frame in a row
    # A gap of three unvoiced frames is a pause inside the utterance; four end it.
    assert events[1] == SpeechPaused(11, b"".join(frames[2:12]))
    assert events[2] == SpeechResumed(12)
    assert events[3] == SpeechPaused(15, b"".join(frames[2:16]))
    end = events[4]
    assert isinstance(end, SpeechEnded)
    assert (end.frame, end.start_frame) == (16, 4)
    assert end.audio == b"".join(frames[2:17])  # preroll (2) + frames 4..16
    assert len(end.audio) == 15 * nbytes
    assert seg.state is VadState.QUIET


def test_short_blips_are_not_speech() -> None:
    seg, frames = scripted("x.xx.x..xx." * 5)
    assert run(seg, frames) == []
    assert seg.state is VadState.QUIET


def test_a_very_long_utterance_is_cut() -> None:
    voiced = iter(lambda: True, None)
    seg = VadSegmenter(
        VadConfig(onset_frames=1, max_utterance_frames=50, calibration_frames=0), lambda _: next(voiced)
    )
    events = run(seg, [b"\0" * FrameFormat().nbytes] * 120)
    assert not [e for e in events if isinstance(e, SpeechPaused)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ends) == 2  # cut at 50 frames each, a third one still going
    assert seg.speaking


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        VadConfig(aggressiveness=5)
    with pytest.raises(ValueError, match="frame_ms"):
        FrameFormat(frame_ms=25)


@needs_espeak
@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_two_utterances_in_recorded_speech(frame_ms: int) -> None:
    fmt = FrameFormat(frame_ms)
    first, second = speech("Hello there."), speech("What is the weather in Paris?")
    lead, gap, tail = silence(0.6), silence(1.2), silence(0.8)
    frames = frames_of(lead, first, gap, second, tail, fmt=fmt)
    onset, hang = 90 // frame_ms, 360 // frame_ms  # 90 ms onset, 360 ms hangover
    seg = VadSegmenter(VadConfig(aggressiveness=2, onset_frames=onset, hangover_frames=hang, fmt=fmt))
    events = [e for e in run(seg, frames) if isinstance(e, SpeechStarted | SpeechEnded)]
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]

    def at(event: SpeechStarted | SpeechEnded) -> float:
        return fmt.seconds(event.frame + 1)  # decided when that frame has fully arrived

    # Where the speech really is (espeak's audio has some silence of its own at each end).
    a, b = voiced_span(first)
    c, d = voiced_span(second)
    s1, e1 = 0.6 + a, 0.6 + b
    s2, e2 = 0.6 + len(first) / 16000 + 1.2 + c, 0.6 + len(first) / 16000 + 1.2 + d
    # Onset is confirmed 90 ms into speech (plus a frame or two); the end, 360 ms after it.
    assert s1 + 0.03 < at(events[0]) < s1 + 0.2
    assert e1 + 0.3 < at(events[1]) < e1 + 0.5
    assert s2 + 0.03 < at(events[2]) < s2 + 0.2
    assert e2 + 0.3 < at(events[3]) < e2 + 0.5
    # The utterance audio covers the speech (preroll included).
    assert isinstance(events[1], SpeechEnded)
    assert len(events[1].audio) / 2 / 16000 > len(first) / 16000 - 0.2
