"""Barge-in keeps exactly the words whose audio had played. The synthesizer here makes audio whose
word boundaries are known by construction (0.1 s of tone per letter, no silence), so every
expectation below is worked out by hand, not with the code under test."""

from __future__ import annotations

import threading

import anyio
import numpy as np

from ipyagent import Agent, State
from ipyagent.audio.frames import Int16Array
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock
from support.speakers import ListSpeaker

RATE = 16_000
PER_LETTER = RATE // 10  # 0.1 s of audio per letter or punctuation mark


class ToneSynth:
    """Speech stand-in: a steady tone, 0.1 s per non-space character."""

    name = "tone"
    sample_rate = RATE

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> Int16Array:
        self.spoken.append(text)
        letters = sum(1 for c in text if not c.isspace())
        return np.full(letters * PER_LETTER, 8000, dtype=np.int16)


class BlockingSynth(ToneSynth):
    """Synthesis that takes until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def synthesize(self, text: str) -> Int16Array:
        self.started.set()
        self.release.wait(10)
        return super().synthesize(text)


async def test_only_words_whose_audio_played_are_reported() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        speaker = ListSpeaker()
        output = VoiceOutput(ToneSynth(), speaker, clock)
        heard: list[str] = []
        progress = heard.append  # one progress callback for the whole generation

        async def say() -> None:
            await output.deliver("one two six ten", progress)
            await output.finish(progress)

        tg.start_soon(say)
        await clock.sleep(0.01)
        [chunk] = speaker.played
        assert len(chunk.samples) == 12 * PER_LETTER  # four words of three letters
        # Word ends at 3, 6, 9 and 12 letters: 4800, 9600, 14400, 19200 samples.
        output.on_playback(chunk.id, 4799, False)
        assert heard == []
        output.on_playback(chunk.id, 9600, False)
        assert heard == ["one ", "two "]
        output.on_playback(chunk.id, 14000, False)
        assert heard == ["one ", "two "]
        output.stop()  # barge-in: the rest is never claimed
        output.on_playback(chunk.id, 19200, True)  # a stale report after the stop
        assert heard == ["one ", "two "]
        assert speaker.stops == 1


async def test_a_sentence_synthesised_across_a_barge_in_is_never_played() -> None:
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        synth = BlockingSynth()
        speaker = ListSpeaker()
        output = VoiceOutput(synth, speaker, clock)
        heard: list[str] = []
        progress = heard.append
        done = anyio.Event()

        async def say() -> None:
            await output.deliver("A sentence that is slow to make", progress)
            await output.finish(progress)
            done.set()

        tg.start_soon(say)
        await anyio.to_thread.run_sync(synth.started.wait, 10)
        output.stop()  # the user barges in while the sentence is being synthesised
        synth.release.set()
        with anyio.fail_after(10):
            await done.wait()
        assert synth.spoken == ["A sentence that is slow to make"]
        assert speaker.played == []
        assert heard == []


async def test_barge_in_through_the_agent_keeps_the_words_heard_by_then() -> None:
    async with VirtualClock() as clock:
        synth = ToneSynth()
        speaker = ClockSpeaker(clock, report_ms=50)
        marks: dict[str, float] = {}
        output = VoiceOutput(synth, speaker, clock, mark=lambda name: marks.setdefault(name, clock.now()))
        speaker.output = output
        script = [{"delay": 0.1, "text": "one two six ten. And more words later."}]
        backend = ScriptedBackend.from_list(script, clock)
        async with (
            Agent(backend, clock=clock, output=output, builtins=False) as agent,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(speaker.run)
            await agent.send("count")
            while "audio_out" not in marks:
                await clock.sleep(0.01)
            # "one two six ten." plays 0.3, 0.6, 0.9 and 1.3 s after it starts; at 0.75 s the
            # first two words have played and the third has not.
            await clock.sleep(0.75)
            agent.interrupt("the user started talking", source="speech")
            await agent.settled()
            tg.cancel_scope.cancel()
        cut = next(e for e in agent.ledger if e.kind == "assistant")
        assert (cut.text, cut.status) == ("one two ", "interrupted")
        assert agent.state is State.IDLE
