"""The kernel-side voice pipeline on a virtual clock: sentence-by-sentence speech, barge-in that
keeps only what was heard, malformed frames, and a spoken question becoming a user turn."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
import numpy as np
import pytest

from ipyagent import Agent, State
from ipyagent.audio import VadConfig, VoiceError
from ipyagent.audio.pipeline import VoicePipeline
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput, word_ends
from ipyagent.audio.tts import EspeakSynthesizer
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.events import GenerationFinished
from ipyagent.testing import VirtualClock, kinds, wait_for, wait_for_state
from support.sounds import FixedTranscriber, needs_espeak, silence, speech
from support.voice_rig import on_event, rig, speak

pytestmark = needs_espeak
ANSWER = "It is sunny in Paris today. Tomorrow it will rain a little. Bring an umbrella."


async def test_speech_starts_before_the_answer_is_complete() -> None:
    async with rig([{"delay": 3.0, "text": ANSWER}], FixedTranscriber("")) as r:
        finished = on_event(r.agent, GenerationFinished, r.clock)
        await r.agent.send("weather?")
        await r.agent.settled()

        sentences = [text for _, text in r.synth.calls]
        assert sentences == [
            "It is sunny in Paris today.",
            "Tomorrow it will rain a little.",
            "Bring an umbrella.",
        ]
        first_synth = r.synth.calls[0][0]
        assert first_synth < finished[0] - 1.0  # the first sentence was spoken while the rest streamed
        # All of it played, in order, and the ledger has the whole answer.
        assert [cid for cid, _ in r.speaker.played] == [1, 2, 3]
        said = r.agent.ledger[-1]
        assert (said.kind, said.text, said.status) == ("assistant", ANSWER, "complete")
        m = r.pipeline.marks.times
        assert m["first_sentence"] <= m["tts_first_chunk"] <= m["audio_out"] <= m["played"]


async def test_barge_in_stops_playback_and_keeps_only_what_was_heard() -> None:
    script = [{"delay": 0.2, "text": ANSWER}, {"delay": 0.2, "text": "Yes?"}]
    async with rig(script, FixedTranscriber("wait a moment")) as r:
        await r.agent.send("weather?")
        await wait_for(r.agent, lambda: bool(r.speaker.played))  # first sentence played in full
        await r.clock.sleep(0.7)  # well into the second sentence
        await speak(r, np.concatenate([speech("Wait, wait."), silence(0.6)]))
        await r.agent.settled()

        assert kinds(r.agent) == ["user", "assistant", "interruption", "user", "assistant"]
        cut = r.agent.ledger[2]
        assert cut.status == "interrupted"
        assert r.speaker.stops == 1
        assert r.pipeline.barge_ins == 1
        assert r.pipeline.marks.times["barge_in"] == r.pipeline.marks.times["speech_onset"]
        # Truthful: exactly the first sentence plus the words of the second whose audio had played.
        (_, p1), (_, p2) = r.speaker.played[:2]
        assert p1 == pytest.approx(len(r.synth.made["It is sunny in Paris today."]) / 22050)
        second = "Tomorrow it will rain a little. "
        ends = word_ends(second, r.synth.made[second.strip()])
        heard = [w for w, end in ends if end <= p2 * 22050]
        reported_by = [w for w, end in ends if end <= (p2 - 0.05) * 22050]
        assert cut.text.startswith("It is sunny in Paris today. ")
        spoken = cut.text.removeprefix("It is sunny in Paris today. ")
        n = len(spoken.split())
        # Nothing unheard is claimed; nothing heard is lost beyond one report interval (50 ms).
        assert spoken == "".join(heard[:n])
        assert len(reported_by) <= n <= len(heard)
        assert 0 < n < len(ends)  # it really was cut mid-sentence
        assert "umbrella" not in cut.text
        user = r.agent.ledger[-2]
        assert (user.text, user.source) == ("wait a moment", "voice")
        assert r.agent.ledger[-1].text == "Yes?"


async def test_malformed_frames_are_rejected_and_the_agent_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with rig([{"delay": 0.1, "text": "Hello."}], FixedTranscriber("hello there")) as r:
        with caplog.at_level(logging.WARNING, logger="ipyagent.audio.pipeline"):
            r.pipeline.feed("not audio", 16000)
            r.pipeline.feed(b"\0" * 100, 16000)
            r.pipeline.feed(b"\0" * 960, 44100)
            r.pipeline.feed(b"\0" * 960, 1e12)
            r.pipeline.feed(None, None)
        assert r.pipeline.rejected == 5
        messages = [rec.getMessage() for rec in caplog.records]
        assert len(messages) == 3  # the first three in full, then only every hundredth
        assert "expected binary PCM16, got str" in messages[0]
        assert "100 bytes" in messages[1] and "960 bytes" in messages[1]
        assert "44100" in messages[2] and "16000 Hz" in messages[2]
        assert r.agent.state is State.IDLE and kinds(r.agent) == []
        # Good frames after bad ones still make a user turn.
        await speak(r, np.concatenate([silence(0.3), speech("Hello there."), silence(0.6)]))
        await r.agent.settled()
        assert [(e.kind, e.text) for e in r.agent.ledger if e.kind != "system"] == [
            ("user", "hello there"),
            ("assistant", "Hello."),
        ]


@dataclass
class CountingTranscriber:
    """Says which call it is, and records how much audio each call got."""

    lengths: list[int]

    def transcribe(self, pcm16: bytes) -> str:
        self.lengths.append(len(pcm16))
        return f"attempt {len(self.lengths)}"


async def test_recognition_starts_at_a_pause_and_is_dropped_if_the_user_goes_on() -> None:
    # Voiced, a pause of 5 frames (early start at the 3rd), voiced again, then silence to the end.
    pattern = "x" * 10 + "." * 5 + "x" * 5 + "." * 12
    verdicts = iter(pattern)
    nbytes = 960
    async with VirtualClock() as clock:
        speaker = ClockSpeaker(clock)
        output = VoiceOutput(EspeakSynthesizer(), speaker, clock)
        speaker.output = output
        backend = ScriptedBackend.from_list([{"delay": 0.1, "text": "Yes."}], clock)
        transcriber = CountingTranscriber([])
        vad = VadConfig(
            onset_frames=3, hangover_frames=10, pause_frames=3, preroll_frames=0, calibration_frames=0
        )
        async with (
            Agent(backend, clock=clock, output=output, builtins=False) as agent,
            anyio.create_task_group() as tg,
        ):
            pipeline = VoicePipeline(
                agent, output, transcriber, vad=vad, classifier=lambda _: next(verdicts) == "x"
            )
            tg.start_soon(speaker.run)
            await tg.start(pipeline.run)
            for _ in pattern:
                await clock.sleep(0.03)
                pipeline.feed(b"\1" * nbytes, 16000)
            await agent.settled()
            pipeline.close()
            tg.cancel_scope.cancel()
    # Two early starts: the first was wasted (speech resumed), the second became the transcript,
    # ready before the hangover ran out; the full utterance was never transcribed again.
    assert transcriber.lengths == [13 * nbytes, 23 * nbytes]
    assert pipeline.early_hits == 1
    assert [(e.kind, e.text) for e in agent.ledger if e.kind == "user"] == [("user", "attempt 2")]


async def test_no_browser_means_the_answer_is_delivered_as_text() -> None:
    async with rig([{"delay": 0.1, "text": ANSWER}], FixedTranscriber("")) as r:
        r.speaker.connected = False
        await r.agent.send("weather?")
        await r.agent.settled()
        assert r.synth.calls == []
        assert r.agent.ledger[-1].text == ANSWER


async def test_a_silent_speaker_is_given_up_after_the_stall_time(caplog: pytest.LogCaptureFixture) -> None:
    async with rig([{"delay": 0.1, "text": "Hello there."}], FixedTranscriber("")) as r:
        r.speaker.output = None  # plays, but its reports never arrive
        with caplog.at_level(logging.WARNING):
            await r.agent.send("hi")
            await r.agent.settled()
        assert any("no playback" in rec.getMessage() for rec in caplog.records)
        assert r.clock.now() >= r.output.stall_seconds
        assert r.agent.state is State.IDLE


def test_gtts_offline_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipyagent.audio import tts

    monkeypatch.setattr(tts, "online", lambda *a, **k: False)
    with pytest.raises(VoiceError) as info:
        tts.make_synthesizer("gtts")
    assert "offline" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(VoiceError, match="unknown tts 'nope'"):
        tts.make_synthesizer("nope")


def test_word_ends_follow_the_voiced_audio() -> None:
    samples = np.concatenate(
        [np.zeros(1000, np.int16), np.full(3000, 4000, np.int16), np.zeros(1000, np.int16)]
    )
    ends = word_ends("ab cd", samples)
    assert ends == [("ab ", 2500), ("cd", 4000)]


@pytest.mark.slow
async def test_a_spoken_question_becomes_a_voice_turn_with_real_whisper() -> None:
    from ipyagent.audio.stt import WhisperTranscriber

    statuses: list[str] = []
    whisper = WhisperTranscriber(status=statuses.append)
    async with rig([{"delay": 0.1, "text": "Sunny."}], whisper) as r:
        await speak(r, np.concatenate([silence(0.5), speech("What is the weather in Paris?"), silence(0.8)]))
        await wait_for(r.agent, lambda: "user" in kinds(r.agent))
        await r.agent.settled()
        user = next(e for e in r.agent.ledger if e.kind == "user")
        assert user.source == "voice"
        assert "weather" in user.text.lower() and "paris" in user.text.lower()
        assert r.agent.ledger[-1].text == "Sunny."
        assert statuses[0].startswith("loading speech recognition") and statuses[-1].endswith("ready")
        await wait_for_state(r.agent, State.IDLE)
