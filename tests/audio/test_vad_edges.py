"""The VAD's exact frame counts at their edges: the utterance cap, and a blip that turns out to
be the start of a word. Frames are numbered bytes, so the audio handed on can be checked frame
by frame."""

from __future__ import annotations

from ipyagent.audio import FrameFormat, SpeechEnded, SpeechStarted, VadConfig, VadSegmenter

NBYTES = FrameFormat().nbytes


def numbered(n: int) -> list[bytes]:
    return [bytes([i % 256]) * NBYTES for i in range(n)]


def segmenter(pattern: str, **config: int) -> VadSegmenter:
    """A segmenter whose classifier replays ``pattern`` ('x' voiced, '.' not), from its first
    frame on (no calibration: the pattern is the whole story)."""
    verdicts = iter(pattern)
    return VadSegmenter(VadConfig(**{"calibration_frames": 0, **config}), lambda _: next(verdicts) == "x")


def test_an_utterance_is_cut_at_exactly_the_cap() -> None:
    frames = numbered(12)
    seg = segmenter("x" * 12, onset_frames=1, preroll_frames=0, max_utterance_frames=5, hangover_frames=3)
    events = [(i, e) for i, f in enumerate(frames) for e in seg.feed(f)]
    ends = [(i, e) for i, e in events if isinstance(e, SpeechEnded)]
    # Five frames each: ended on the 5th frame (index 4) and on the 10th (index 9), not one later.
    assert [i for i, _ in ends] == [4, 9]
    first = ends[0][1]
    assert (first.start_frame, first.frame) == (0, 4)
    assert first.audio == b"".join(frames[0:5])
    assert ends[1][1].audio == b"".join(frames[5:10])


def test_a_blip_before_speech_is_kept_as_its_preroll() -> None:
    # frame 2 is a blip (one voiced frame, too short for an onset); speech starts at frame 4.
    pattern = "..x." + "xxx" + "xx" + "...."
    frames = numbered(len(pattern))
    seg = segmenter(pattern, onset_frames=3, preroll_frames=2, hangover_frames=4, pause_frames=2)
    events = [e for f in frames for e in seg.feed(f)]
    assert events[0] == SpeechStarted(6)
    end = events[-1]
    assert isinstance(end, SpeechEnded)
    assert end.start_frame == 4
    # The two frames before the onset are the blip and the quiet frame after it (frames 2 and 3),
    # not the older frames 0 and 1: the start of a word is not lost to the recogniser.
    assert end.audio == b"".join(frames[2:13])
