"""The VAD's settings are checked when made (one line saying which and why), and its noise gate:
the room is measured first, an onset must be louder than the room by the configured ratio, and the
floor follows the room while nobody speaks. Frames of one constant sample value have that value as
their RMS, so every loudness here is known exactly."""

from __future__ import annotations

import pytest

from ipyagent.audio import FrameFormat, SpeechStarted, VadConfig, VadSegmenter
from ipyagent.audio.vad import MAX_NOISE_FLOOR

SAMPLES = FrameFormat().nbytes // 2


def level(value: int) -> bytes:
    """A frame whose RMS is ``value``."""
    return value.to_bytes(2, "little", signed=True) * SAMPLES


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"aggressiveness": 4}, "aggressiveness must be 0-3, got 4"),
        ({"aggressiveness": -1}, "aggressiveness must be 0-3, got -1"),
        ({"onset_frames": 0}, "onset_frames must be at least 1"),
        ({"hangover_frames": 0, "pause_frames": 0}, "hangover_frames must be at least 1"),
        ({"max_utterance_frames": 0}, "max_utterance_frames must be at least 1"),
        ({"preroll_frames": -1}, "preroll_frames and calibration_frames must be >= 0"),
        ({"calibration_frames": -1}, "preroll_frames and calibration_frames must be >= 0"),
        ({"onset_ratio": 0.5}, "onset_ratio must be >= 1"),
        ({"max_hangover_frames": 11}, "max_hangover_frames must be >= hangover_frames"),
        ({"pause_frames": 0}, "pause_frames must be between 1 and hangover_frames"),
        ({"pause_frames": 13}, "pause_frames must be between 1 and hangover_frames"),
    ],
)
def test_a_bad_setting_is_refused_saying_which(settings: dict[str, float], reason: str) -> None:
    with pytest.raises(ValueError, match="must") as err:
        VadConfig(**settings)  # type: ignore[arg-type]
    assert str(err.value) == reason


def test_the_settings_at_their_limits_are_accepted() -> None:
    for aggressiveness in (0, 1, 2, 3):
        VadConfig(aggressiveness=aggressiveness)
    VadConfig(
        onset_frames=1, hangover_frames=1, pause_frames=1, max_utterance_frames=1, max_hangover_frames=1
    )
    VadConfig(preroll_frames=0, calibration_frames=0, onset_ratio=1)
    VadConfig(max_hangover_frames=12, pause_frames=12)


def gate(calibration: int = 2) -> VadSegmenter:
    """Every frame voiced by the classifier: only loudness decides."""
    config = VadConfig(calibration_frames=calibration, onset_frames=1, preroll_frames=0, onset_ratio=3.0)
    return VadSegmenter(config, lambda _: True)


def test_the_room_is_measured_first_and_nothing_starts_meanwhile() -> None:
    seg = gate(calibration=3)
    assert seg.calibrating
    assert seg.feed(level(30000)) == []  # the click of a mic going live
    assert seg.calibrating
    assert seg.feed(level(40)) == []
    assert not seg.last_voiced
    assert seg.feed(level(40)) == []
    assert not seg.calibrating
    assert seg.noise_floor == 40.0  # the median of 30000, 40, 40


def test_an_onset_must_be_louder_than_the_room_by_the_ratio() -> None:
    seg = gate()
    seg.feed(level(100))
    seg.feed(level(100))
    assert seg.noise_floor == 100.0
    assert seg.feed(level(300)) == []  # exactly 3 times the floor is not louder
    assert not seg.last_voiced
    # The quiet frame pulled the floor toward itself: 0.95 * 100 + 0.05 * 300.
    assert seg.noise_floor == pytest.approx(110.0)
    assert seg.feed(level(331)) == [SpeechStarted(3)]
    assert seg.last_voiced
    assert seg.speaking


def test_the_floor_follows_a_quiet_room_slowly_and_a_blip_little() -> None:
    seg = gate()
    seg.feed(level(20))
    seg.feed(level(20))
    seg.feed(level(10))  # quieter: 0.95 * 20 + 0.05 * 10
    assert seg.noise_floor == pytest.approx(19.5)
    floor = seg.noise_floor
    seg = gate()
    seg.feed(level(20))
    seg.feed(level(20))
    # Too quiet to start anything, but the frame counts at most 4 * floor + 1 toward the floor.
    seg.feed(level(59))
    assert seg.noise_floor == pytest.approx(0.95 * 20 + 0.05 * 59)
    assert floor < seg.noise_floor


def test_the_floor_never_rises_past_the_loudest_room_it_adapts_to() -> None:
    seg = gate()
    seg.feed(level(5000))
    seg.feed(level(5000))
    assert seg.noise_floor == MAX_NOISE_FLOOR
    seg.feed(level(500))  # not louder than 3 x 200: the room
    assert seg.noise_floor == MAX_NOISE_FLOOR
    assert seg.feed(level(601)) == [SpeechStarted(3)]


def test_the_floor_stays_put_while_the_user_speaks() -> None:
    seg = gate()
    seg.feed(level(100))
    seg.feed(level(100))
    seg.feed(level(1000))
    assert seg.speaking
    seg.feed(level(150))  # a quiet syllable inside speech is not the room
    assert seg.noise_floor == 100.0


def test_without_calibration_loudness_plays_no_part() -> None:
    seg = gate(calibration=0)
    assert not seg.calibrating
    assert seg.feed(level(0)) == [SpeechStarted(0)]


def test_a_loud_noise_that_is_not_speech_raises_the_floor_by_a_bounded_step() -> None:
    verdicts = iter([False, False, False])  # a door slam: loud, but not speech
    config = VadConfig(calibration_frames=2, onset_frames=1, preroll_frames=0)
    seg = VadSegmenter(config, lambda _: next(verdicts))
    seg.feed(level(20))
    seg.feed(level(20))
    assert seg.feed(level(3000)) == []
    assert seg.noise_floor == pytest.approx(0.95 * 20 + 0.05 * (4 * 20 + 1))
