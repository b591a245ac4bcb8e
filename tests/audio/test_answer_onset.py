"""What the user waits for between the end of their words and the answer's first sound, on a
virtual clock: the turn detector is asked at the first pause so its verdict is ready when the
pause has lasted long enough to act on it (and not acted on sooner), and a synthesised piece
starts with its sound, not with the synthesizer's lead-in silence."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import anyio
import numpy as np

from ipyagent.audio import VadConfig
from ipyagent.audio.frames import Int16Array
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput
from ipyagent.testing import VirtualClock, kinds
from support.sounds import FixedTranscriber, needs_espeak, silence, speech, voiced_span
from support.voice_rig import rig, speak

VAD = VadConfig(onset_frames=3, hangover_frames=12)  # pause at 90 ms, hangover 360 ms, cap 1.5 s
FRAME = VAD.fmt.frame_ms / 1000


@dataclass
class ScriptedDetector:
    """A turn detector that answers ``verdicts`` in turn (the last one from then on) and notes
    when it was asked and how long the pause was by then."""

    clock: VirtualClock
    verdicts: list[float]
    asked: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, pcm16: bytes) -> float:
        with self.lock:
            self.asked.append(self.clock.now())
            return self.verdicts[min(len(self.asked), len(self.verdicts)) - 1]


def spoken(text: str) -> Int16Array:
    """``text`` by espeak-ng, cut just after its last sound (espeak trails ~0.35 s of quiet)."""
    samples = speech(text)
    return samples[: round(voiced_span(samples)[1] * 16000) + 160]


async def end_of_turn(verdicts: list[float] | None, text: str) -> tuple[float, list[float]]:
    """When the turn ended after ``text`` (then silence), and when the detector was asked."""
    async with rig([{"delay": 0.1, "text": "Yes."}], FixedTranscriber(text), vad=VAD) as r:
        detector = None if verdicts is None else ScriptedDetector(r.clock, verdicts)
        r.pipeline.turn_detector = detector
        start = r.clock.now()
        await speak(r, np.concatenate([silence(0.4), spoken(text), silence(2.0)]))
        await r.agent.settled()
        assert kinds(r.agent) == ["user", "assistant"]
        return r.pipeline.marks.times["speech_end"] - start, [
            t - start for t in detector.asked
        ] if detector else []


@needs_espeak
async def test_the_verdict_is_asked_at_the_first_pause_and_the_turn_ends_once_it_lasts_210_ms() -> None:
    hangover, _ = await end_of_turn(None, "What time is it?")  # 12 silent frames
    ended, asked = await end_of_turn([0.9], "What time is it?")
    assert abs(ended - (hangover - 5 * FRAME)) < 1e-6  # after 7 silent frames (210 ms)
    # Asked once, after 3 (90 ms): its verdict was in well before it could be acted on.
    assert len(asked) == 1 and abs(asked[0] - (ended - 4 * FRAME)) < 1e-6


@needs_espeak
async def test_a_finished_sounding_pause_shorter_than_210_ms_does_not_end_the_turn() -> None:
    # A pause the VAD hears as 4 silent frames (120 ms), with a verdict of "finished" at 90 ms.
    said = np.concatenate([silence(0.4), spoken("Book a table for two"), silence(0.25), spoken("at eight.")])
    script = [{"delay": 0.1, "text": "Booked."}, {"delay": 0.1, "text": "Booked twice."}]
    async with rig(script, FixedTranscriber("Book a table for two at eight."), vad=VAD) as r:
        detector = ScriptedDetector(r.clock, [0.95])  # every pause sounds finished
        r.pipeline.turn_detector = detector
        await speak(r, np.concatenate([said, silence(1.0)]))
        await r.agent.settled()
        assert len(detector.asked) == 2  # at the short pause and at the end
        assert [(e.kind, e.text) for e in r.agent.ledger if e.kind != "system"] == [
            ("user", "Book a table for two at eight."),
            ("assistant", "Booked."),
        ]


@needs_espeak
async def test_unfinished_at_90_ms_is_asked_again_at_210_ms_and_then_ends_the_turn() -> None:
    hangover, _ = await end_of_turn(None, "Stop it now.")
    # Heard as unfinished at 90 ms, finished at 210 ms (as Smart Turn heard "Stop, please.").
    ended, asked = await end_of_turn([0.2, 0.6], "Stop it now.")
    assert len(asked) == 2 and abs(asked[1] - asked[0] - 4 * FRAME) < 1e-6
    assert abs(ended - asked[1]) < 1e-6  # ended on the second verdict: not at the 1.5 s cap
    assert abs(ended - (hangover - 5 * FRAME)) < 1e-6


class LeadInSynth:
    """A piece of sound after ``lead`` seconds of silence, starting with a soft consonant."""

    name = "lead-in"
    sample_rate = 16_000

    def __init__(self, lead: float) -> None:
        self.lead = lead

    def synthesize(self, text: str) -> Int16Array:
        rate = self.sample_rate
        soft = np.full(rate // 20, 150, np.int16)  # 50 ms of an "h", quiet but heard
        loud = np.full(rate * len(text.split()) // 5, 8000, np.int16)
        return np.concatenate([np.zeros(round(self.lead * rate), np.int16), soft, loud])


async def test_the_answer_sounds_10_ms_after_it_starts_playing_not_after_the_synthesizers_lead_in() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        speaker = ClockSpeaker(clock, report_ms=10)
        output = VoiceOutput(LeadInSynth(lead=0.2), speaker, clock)
        speaker.output = output
        tg.start_soon(speaker.run)
        heard: list[str] = []
        progress = heard.append  # one callback for the whole answer
        await output.deliver("Hello there.", progress)
        await output.finish(progress)
        assert heard == ["Hello ", "there."]
        [(chunk, _)] = speaker.starts
        sound = np.flatnonzero(chunk.samples)
        assert sound[0] == 160  # 10 ms of silence kept, the soft onset whole
        assert len(chunk.samples) - sound[0] == 16_000 // 20 + 16_000 * 2 // 5
        tg.cancel_scope.cancel()


async def test_played_marks_the_first_sound_of_an_answer_not_its_first_heard_word() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        speaker = ClockSpeaker(clock, report_ms=10)
        marks: dict[str, float] = {}  # each milestone's latest time
        output = VoiceOutput(
            LeadInSynth(lead=0.0), speaker, clock, mark=lambda n: marks.update({n: clock.now()})
        )
        speaker.output = output
        tg.start_soon(speaker.run)
        heard: list[str] = []
        progress = heard.append
        await output.deliver("One two three four five. And a second piece.", progress)
        await output.finish(progress)
        (_, began), _ = speaker.starts
        # The speaker's first report of the first piece, 10 ms in, while no word is heard yet.
        assert marks["played"] == began + 0.01
        tg.cancel_scope.cancel()
