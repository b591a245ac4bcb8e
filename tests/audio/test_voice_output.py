"""The speaking side as the user hears it: a cough pauses the answer and it resumes from the first
word not heard (each word heard once), a barge-in that stays a barge-in, a speaker that goes
silent, no browser at all; and the moments the voice latency figures are taken from. The
synthesizer makes 0.1 s of steady tone per letter, so where each word ends is known by hand."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import anyio
import numpy as np
import pytest

from ipyagent.audio.frames import Int16Array
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput, word_ends
from ipyagent.testing import VirtualClock
from support.speakers import ListSpeaker

RATE = 16_000
PER_LETTER = RATE // 10


class ToneSynth:
    name = "tone"
    sample_rate = RATE

    def __init__(self) -> None:
        self.spoken: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def synthesize(self, text: str) -> Int16Array:
        self.spoken.append(text)
        self.started.set()
        self.release.wait(10)
        return np.full(sum(1 for c in text if not c.isspace()) * PER_LETTER, 8000, dtype=np.int16)


async def until(clock: VirtualClock, condition: Callable[[], bool]) -> None:
    """Wait (holding virtual time still) until work in worker threads makes ``condition`` true."""
    for _ in range(5000):
        if condition():
            return
        with clock.holding():
            await anyio.to_thread.run_sync(time.sleep, 0.001)
    raise AssertionError("the condition never became true")


class Rig:
    def __init__(self, clock: VirtualClock, *, connected: bool = True, stall_seconds: float = 10.0) -> None:
        self.clock = clock
        self.synth = ToneSynth()
        self.speaker = ListSpeaker(connected)
        self.marks: list[tuple[str, float]] = []
        self.heard: list[str] = []
        self.progress = self.heard.append  # one callback for the whole answer
        self.output = VoiceOutput(
            self.synth,
            self.speaker,
            clock,
            mark=lambda name: self.marks.append((name, clock.now())),
            stall_seconds=stall_seconds,
        )
        self.finished = anyio.Event()

    async def say(self, *pieces: str) -> None:
        for piece in pieces:
            await self.output.deliver(piece, self.progress)
        await self.output.finish(self.progress)
        self.finished.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.marks]


async def test_a_cough_pauses_and_the_answer_resumes_from_the_first_word_not_heard() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        rig = Rig(clock)
        output, speaker = rig.output, rig.speaker
        tg.start_soon(rig.say, "one two six ten. ", "Then more.")
        await until(clock, lambda: len(speaker.played) == 2)
        first, second = speaker.played
        assert (first.id, first.text, second.id, second.text) == (1, "one two six ten. ", 2, "Then more.")
        output.on_playback(first.id, 2 * 3 * PER_LETTER, False)  # "one two " played
        assert rig.heard == ["one ", "two "]
        output.pause()  # the user makes a sound
        assert (output.paused, speaker.stops, output.next_word()) == (True, 1, "six ")
        output.pause()
        assert speaker.stops == 1  # silent already
        await clock.sleep(1)
        # The speaker's last report after it was told to stop: played words stay heard; "done"
        # is not true any more (it dropped the rest).
        output.on_playback(first.id, 2 * 3 * PER_LETTER + 10, True)
        assert rig.heard == ["one ", "two "]
        await clock.sleep(30)  # however long the user has the floor, the answer waits
        assert not rig.finished.is_set()
        await output.resume()  # it was a cough
        assert rig.synth.spoken[-1] == "six ten."
        assert [(c.id, c.text) for c in speaker.played[2:]] == [(3, "six ten. "), (2, "Then more.")]
        assert len(speaker.played[2].samples) == 7 * PER_LETTER
        assert (output.paused, output.resumes) == (False, 1)
        assert rig.names()[-1] == "resumed"
        output.on_playback(3, 7 * PER_LETTER, True)
        output.on_playback(2, 9 * PER_LETTER, True)
        await clock.sleep(0.01)
        assert rig.finished.is_set()
        assert "".join(rig.heard) == "one two six ten. Then more."  # every word once
        await output.resume()  # not paused: nothing happens
        assert (len(speaker.played), output.resumes) == (4, 1)


async def test_resuming_after_the_last_word_was_heard_sends_only_what_follows() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        rig = Rig(clock)
        tg.start_soon(rig.say, "one two. ", "Three.")
        await until(clock, lambda: len(rig.speaker.played) == 2)
        first, second = rig.speaker.played
        rig.output.on_playback(first.id, len(first.samples), False)  # all of it, not yet "done"
        assert rig.heard == ["one ", "two. "]
        rig.output.pause()
        await rig.output.resume()
        assert rig.synth.spoken == ["one two.", "Three."]  # nothing synthesised again
        assert rig.speaker.played[2:] == [second]
        rig.output.on_playback(second.id, len(second.samples), True)
        await clock.sleep(0.01)
        assert rig.heard == ["one ", "two. ", "Three."]
        assert rig.finished.is_set()


async def test_a_stop_during_the_resumes_synthesis_leaves_the_answer_stopped() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        rig = Rig(clock)
        tg.start_soon(rig.say, "one two six ten.")
        await until(clock, lambda: len(rig.speaker.played) == 1)
        [first] = rig.speaker.played
        rig.output.on_playback(first.id, 3 * PER_LETTER, False)
        rig.output.pause()
        rig.synth.release.clear()
        rig.synth.started.clear()
        tg.start_soon(rig.output.resume)
        await anyio.to_thread.run_sync(rig.synth.started.wait, 10)
        rig.output.stop()  # the sound was words after all
        assert rig.speaker.stops == 1  # paused already: nothing more to silence
        rig.synth.release.set()
        with anyio.fail_after(10):
            await rig.finished.wait()
        await clock.sleep(0.01)
        assert rig.speaker.played == [first]
        assert (rig.output.paused, rig.output.resumes, rig.output.playing) == (False, 0, False)
        assert rig.heard == ["one "]


async def test_the_moments_the_voice_latency_figures_are_taken_from() -> None:
    async with VirtualClock() as clock:
        rig = Rig(clock)
        await rig.output.deliver("First one. ", rig.progress)
        assert rig.names() == ["first_sentence", "tts_first_chunk", "audio_out"]
        await clock.sleep(1)
        await rig.output.deliver("Second one. And", rig.progress)
        assert rig.marks == [
            ("first_sentence", 0.0),
            ("tts_first_chunk", 0.0),
            ("audio_out", 0.0),
        ]  # once each
        first, second = rig.speaker.played
        rig.output.on_playback(second.id, 100, False)  # a report on a later chunk first
        assert "played" not in rig.names()
        rig.output.on_playback(first.id, 0, False)
        assert "played" not in rig.names()
        clock_at = clock.now()
        rig.output.on_playback(first.id, 1, False)
        assert rig.marks[-1] == ("played", clock_at)
        rig.output.on_playback(first.id, 2, False)
        assert rig.names().count("played") == 1
        rig.output.stop()
        assert rig.names()[-1] == "stop_sent"
        assert rig.speaker.stops == 1
        rig.output.stop()  # nothing left to stop
        assert (rig.names().count("stop_sent"), rig.speaker.stops) == (1, 1)


async def test_without_a_browser_the_answer_arrives_as_text_sentence_by_sentence() -> None:
    async with VirtualClock() as clock:
        rig = Rig(clock, connected=False)
        await rig.say("Hello there. ", "How are you? ", "Fine")
        assert rig.heard == ["Hello there. ", "How are you? ", "Fine"]
        assert rig.synth.spoken == []
        assert rig.names() == ["first_sentence"]
        assert not rig.output.playing


async def test_trailing_spaces_after_the_last_sentence_are_still_delivered() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        rig = Rig(clock)
        tg.start_soon(rig.say, "Done.", "  ")
        await until(clock, lambda: len(rig.speaker.played) == 1)
        [chunk] = rig.speaker.played
        rig.output.on_playback(chunk.id, len(chunk.samples), True)
        await clock.sleep(0.01)
        assert "".join(rig.heard) == "Done.  "


async def test_a_speaker_that_goes_silent_is_given_up_after_the_stall_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        rig = Rig(clock, stall_seconds=3)
        with caplog.at_level(logging.WARNING, logger="ipyagent.audio.speech"):
            tg.start_soon(rig.say, "Nobody hears this.")
            await clock.sleep(2.9)
            assert not rig.finished.is_set()
            await clock.sleep(0.2)
            assert rig.finished.is_set()
        assert caplog.messages == ["the speaker reported no playback for 3 s; giving up on it"]
        assert not rig.output.playing


async def test_a_paused_answer_is_not_given_up_while_the_user_has_the_floor() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        rig = Rig(clock, stall_seconds=3)
        tg.start_soon(rig.say, "Wait for me.")
        await until(clock, lambda: len(rig.speaker.played) == 1)
        rig.output.pause()
        await clock.sleep(20)
        assert not rig.finished.is_set() and rig.output.playing
        rig.output.stop()
        await clock.sleep(0.01)
        assert rig.finished.is_set()


def test_word_ends_spread_over_the_voiced_audio_only() -> None:
    quiet, loud = np.full(1000, 500, dtype=np.int16), np.full(4800, -501, dtype=np.int16)
    samples = np.concatenate([quiet, loud, quiet])
    # 4 letters over samples 1000..5800: "ab" ends half-way, "cd" at the last voiced sample.
    assert word_ends("ab cd", samples) == [("ab ", 3400), ("cd", 5800)]
    # A word of punctuation weighs as one letter; spaces weigh nothing.
    assert word_ends("abc - d", loud) == [("abc ", 2880), ("- ", 3840), ("d", 4800)]
    # No voiced sample at all: spread over the whole chunk.
    assert word_ends("ab cd", quiet) == [("ab ", 500), ("cd", 1000)]
    assert word_ends("  ", quiet) == [("  ", 0)]


async def test_the_clock_speaker_plays_in_time_and_stops_at_once() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        speaker = ClockSpeaker(clock, report_ms=100)
        rig_synth = ToneSynth()
        output = VoiceOutput(rig_synth, speaker, clock)
        speaker.output = output
        heard: list[str] = []
        progress = heard.append
        tg.start_soon(speaker.run)
        await clock.sleep(1)

        async def say() -> None:
            await output.deliver("ab cd. Next one here.", progress)
            await output.finish(progress)

        tg.start_soon(say)
        await clock.sleep(0.25)  # "ab cd. " is 0.5 s long: "ab " has played
        assert heard == ["ab "]
        await clock.sleep(0.3)
        assert heard == ["ab ", "cd. "]
        assert speaker.played == [(1, pytest.approx(0.5))]
        assert speaker.spans == [(pytest.approx(1.0), pytest.approx(1.5))]
        await clock.sleep(0.5)  # 0.5 s into "Next one here." (1.2 s): "Next " ended at 0.4 s
        output.stop()
        assert (speaker.stops, speaker.stopped_at) == (1, pytest.approx(2.05))
        speaker.stop()
        assert speaker.stops == 2
        await clock.sleep(0.5)
        assert speaker.played[1] == (2, pytest.approx(0.5))
        assert speaker.spans[1] == (pytest.approx(1.5), pytest.approx(2.05))
        assert heard == ["ab ", "cd. ", "Next "]
        tg.cancel_scope.cancel()
