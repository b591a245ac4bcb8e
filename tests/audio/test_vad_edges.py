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


def feed_all(seg: VadSegmenter, frames: list[bytes]) -> list[object]:
    return [e for f in frames for e in seg.feed(f)]


def test_the_utterance_so_far_and_its_voiced_frames() -> None:
    frames = numbered(8)
    seg = segmenter("xx.xx...", onset_frames=1, preroll_frames=0, hangover_frames=3, pause_frames=1)
    assert seg.audio_so_far() == b""
    events = feed_all(seg, frames[:5])
    assert seg.audio_so_far() == b"".join(frames[:5])
    events += feed_all(seg, frames[5:])
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ended) == 1
    assert ended[0].voiced_frames == 4  # frames 0, 1, 3, 4
    assert ended[0].audio == b"".join(frames)
    assert seg.audio_so_far() == b""


def test_an_utterance_heard_to_be_done_ends_at_once_only_while_pausing() -> None:
    frames = numbered(6)
    seg = segmenter("xxx...", onset_frames=1, preroll_frames=0, hangover_frames=5, pause_frames=1)
    feed_all(seg, frames[:3])
    assert seg.end_now() is None  # still speaking
    feed_all(seg, frames[3:4])
    ended = seg.end_now()
    assert ended is not None
    assert (ended.start_frame, ended.frame, ended.audio) == (0, 3, b"".join(frames[:4]))
    assert seg.end_now() is None  # nothing left to end
    assert not seg.speaking


def test_a_user_heard_mid_sentence_gets_the_longer_hangover() -> None:
    pattern = "xx" + "." * 6
    seg = segmenter(
        pattern, onset_frames=1, preroll_frames=0, hangover_frames=2, max_hangover_frames=5, pause_frames=1
    )
    frames = numbered(len(pattern))
    feed_all(seg, frames[:2])
    seg.hold()
    events = [(i, e) for i, f in enumerate(frames) if i >= 2 for e in seg.feed(f)]
    assert [i for i, e in events if isinstance(e, SpeechEnded)] == [6]  # 5 silent frames, not 2


def test_hold_while_quiet_changes_nothing() -> None:
    pattern = "." + "xx" + "..."
    seg = segmenter(
        pattern, onset_frames=1, preroll_frames=0, hangover_frames=2, max_hangover_frames=5, pause_frames=1
    )
    frames = numbered(len(pattern))
    seg.feed(frames[0])
    seg.hold()
    events = [(i, e) for i, f in enumerate(frames) if i >= 1 for e in seg.feed(f)]
    assert [i for i, e in events if isinstance(e, SpeechEnded)] == [4]


def test_reset_forgets_the_utterance_and_measures_the_room_again() -> None:
    frames = numbered(30)
    loud = b"\xff\x7f" * (NBYTES // 2)  # as loud as PCM16 goes
    seg = VadSegmenter(
        VadConfig(calibration_frames=3, onset_frames=1, preroll_frames=0, hangover_frames=2, pause_frames=1),
        lambda _: True,
    )
    feed_all(seg, frames[:3])
    assert not seg.calibrating
    assert [type(e) for e in seg.feed(loud)] == [SpeechStarted]
    seg.reset()
    assert seg.calibrating
    assert not seg.speaking
    assert seg.audio_so_far() == b""
    assert feed_all(seg, [loud, loud, loud]) == []  # measuring the room: nothing starts
    assert not seg.calibrating
    assert seg.state == "quiet"
    assert [type(e) for e in seg.feed(loud)] == [SpeechStarted]  # louder than the 200 cap x 3


def test_the_first_silence_after_an_onset_counts_from_one() -> None:
    # Three voiced frames start it; silence then pauses it after 2 frames and ends it after 4.
    pattern = "xxx" + "...."
    seg = segmenter(pattern, onset_frames=3, preroll_frames=0, hangover_frames=4, pause_frames=2)
    frames = numbered(len(pattern))
    events = [(i, type(e).__name__) for i, f in enumerate(frames) for e in seg.feed(f)]
    assert events == [(2, "SpeechStarted"), (4, "SpeechPaused"), (6, "SpeechEnded")]


def test_one_voiced_frame_then_silence_ends_after_the_hangover() -> None:
    pattern = "x" + "..."
    seg = segmenter(pattern, onset_frames=1, preroll_frames=0, hangover_frames=3, pause_frames=1)
    frames = numbered(len(pattern))
    events = [(i, e) for i, f in enumerate(frames) for e in seg.feed(f)]
    ended = [(i, e) for i, e in events if isinstance(e, SpeechEnded)]
    assert [i for i, _ in ended] == [3]
    assert ended[0][1].voiced_frames == 1


def test_voiced_frames_count_the_onset_too() -> None:
    pattern = "xxx" + ".."
    seg = segmenter(pattern, onset_frames=3, preroll_frames=0, hangover_frames=2, pause_frames=1)
    ended = [e for f in numbered(len(pattern)) for e in seg.feed(f) if isinstance(e, SpeechEnded)]
    assert [e.voiced_frames for e in ended] == [3]


def test_an_early_blip_keeps_all_its_frames_as_preroll() -> None:
    # frame 1 is a blip right after the start; speech starts at frame 3.
    pattern = ".x." + "xxx" + ".."
    seg = segmenter(pattern, onset_frames=3, preroll_frames=3, hangover_frames=2, pause_frames=1)
    frames = numbered(len(pattern))
    ended = [e for f in frames for e in seg.feed(f) if isinstance(e, SpeechEnded)]
    assert len(ended) == 1
    assert ended[0].audio == b"".join(frames[0:8])


def test_nothing_is_heard_before_the_first_frame() -> None:
    seg = segmenter("x")
    assert seg.last_voiced is False
    assert seg.silent_frames == 0
