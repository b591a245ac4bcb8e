"""Turn-taking as a person talking to the agent meets it, on a virtual clock with espeak-ng speech:
the agent never talks over the user, a cough does not lose the answer, switching the mic on is no
barge-in, an answer that must be heard is not cut, and a pause mid-sentence is not an end of turn."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from ipyagent import State
from ipyagent.audio import VadConfig
from ipyagent.audio.frames import SAMPLE_RATE, Int16Array
from ipyagent.dispatch.output import InterruptionPolicy
from ipyagent.events import ToolResult
from ipyagent.testing import kinds, wait_for
from support.sounds import FixedTranscriber, needs_espeak, silence, speech, voiced_span
from support.voice_rig import Rig, on_event, rig, speak

pytestmark = needs_espeak
ANSWER = "It is sunny in Paris today. Tomorrow it will rain a little. Bring an umbrella."
SECOND = "Tomorrow it will rain a little."


def cough(seconds: float = 0.2) -> Int16Array:
    """A cough: a loud burst of breathy noise, rising and falling."""
    n = round(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(3)
    noise = np.convolve(rng.normal(0, 1, n), np.ones(6) / 6, mode="same")  # breathy, not hiss
    envelope = np.sin(np.linspace(0, np.pi, n)) ** 0.5
    return (noise * envelope * 9000).clip(-32000, 32000).astype(np.int16)


def spans_overlap(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of agent audio played between ``start`` and ``end``."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


async def into_second_sentence(r: Rig) -> None:
    await r.agent.send("weather?")
    await wait_for(r.agent, lambda: bool(r.speaker.played))  # the first sentence played in full
    await r.clock.sleep(0.7)  # well into the second


def heard_once(r: Rig) -> None:
    """The answer reached the user whole, each word once, and the ledger says so."""
    assert "".join(r.delivered) == ANSWER
    said = [e for e in r.agent.ledger if e.kind == "assistant"]
    assert [(e.text, e.status) for e in said] == [(ANSWER, "complete")]


async def test_a_long_request_is_never_talked_over_and_the_tool_result_is_said_after() -> None:
    async def lookup() -> str:
        """Look up the user's flight."""
        from ipyagent import current_clock

        await current_clock().sleep(4.0)
        return "flight AF 1234 leaves at nine"

    script = [
        {"delay": 0.1, "tool_calls": [{"name": "lookup", "arguments": {}}]},
        {"delay": 0.2, "text": "Your flight leaves at nine, and the hotel is booked."},
    ]
    request = speech(
        "I would like you to book the hotel near the station for three nights, starting on Friday, "
        "with breakfast included, and a quiet room facing the garden, and please also check "
        "whether they have parking for a small car, and whether late arrival is fine"
    )
    assert len(request) / SAMPLE_RATE > 9.0
    async with rig(script, FixedTranscriber("book the hotel as I said"), tools=[lookup]) as r:
        r.agent.listen_timeout = 2.0  # far shorter than the request: only silence may count
        await r.agent.send("find my flight")
        await wait_for(r.agent, lambda: bool(r.agent.tasks))
        results = on_event(r.agent, ToolResult, r.clock)
        begin = r.clock.now()
        await speak(r, np.concatenate([request, silence(0.6)]))
        a, b = voiced_span(request)
        talking = (begin + a, begin + b)
        await r.agent.settled()

        assert talking[0] < results[0] < talking[1]  # the result came in mid-request
        assert spans_overlap(r.speaker.spans, *talking) == 0.0  # not a sound over the user
        # One user turn for the whole request; the answer comes after it and sees the result.
        tail = [(e.kind, e.source) for e in r.agent.ledger][-3:]
        assert tail == [("user", "voice"), ("notification", "tool_result"), ("assistant", None)]
        assert r.speaker.spans and r.speaker.spans[0][0] > talking[1]


async def test_a_cough_during_the_answer_resumes_from_the_first_unheard_word() -> None:
    async with rig([{"delay": 0.2, "text": ANSWER}], FixedTranscriber("")) as r:
        await into_second_sentence(r)
        await speak(r, np.concatenate([cough(0.2), silence(0.5)]))
        ended = r.clock.now() - 0.5
        await r.agent.settled()

        assert r.pipeline.barge_ins == 1 and r.pipeline.false_interruptions == 1
        heard_once(r)
        # Resumed within 1.5 s, from the first word not heard: the cut sentence was synthesised
        # again from there, not from its start, and nothing before it was said again.
        assert r.pipeline.marks.times["resumed"] - ended < 1.5
        texts = [t for _, t in r.synth.calls]
        assert texts[:2] == ["It is sunny in Paris today.", SECOND]
        (resumed,) = [t for t in texts[2:] if t != "Bring an umbrella."]
        assert SECOND.endswith(" " + resumed)
        assert sorted(texts[2:]) == sorted([resumed, "Bring an umbrella."])
        marker = next(e for e in r.agent.ledger if e.kind == "interruption")
        assert marker.status == "false"
        assert f"resumed from “{resumed.split()[0]}”" in marker.text
        assert kinds(r.agent) == ["user", "interruption", "assistant"]


async def test_a_paused_answer_resumes_when_the_microphone_stops_mid_cough() -> None:
    async with rig([{"delay": 0.2, "text": ANSWER}], FixedTranscriber("")) as r:
        await into_second_sentence(r)
        await speak(r, cough(0.3)[: round(0.2 * SAMPLE_RATE)])  # the mic goes dead mid-cough
        stopped = r.clock.now()
        assert r.output.paused  # the cough paused the answer; no frame will ever end it
        with anyio.fail_after(30):  # real seconds: a hang fails instead of blocking the suite
            await r.agent.settled()
        assert r.pipeline.marks.times["microphone_stopped"] - stopped == pytest.approx(1.0, abs=0.05)
        assert r.pipeline.marks.times["resumed"] - stopped < 1.5
        assert r.pipeline.false_interruptions == 1
        heard_once(r)
        assert kinds(r.agent) == ["user", "interruption", "assistant"]


async def test_words_cut_off_by_a_dead_microphone_are_still_answered() -> None:
    question = speech("What time is it?")
    async with rig([{"delay": 0.1, "text": "Nine."}], FixedTranscriber("What time is it?")) as r:
        await speak(r, question[: len(question) * 2 // 3])  # no silence after: the frames stop
        with anyio.fail_after(30):
            await wait_for(r.agent, lambda: kinds(r.agent) == ["user", "assistant"])
        assert r.agent.ledger[1].text == "What time is it?"


async def test_an_uh_is_no_barge_in_but_words_are() -> None:
    uh = speech("uh")
    async with rig([{"delay": 0.2, "text": ANSWER}], FixedTranscriber("Uh...")) as r:
        await into_second_sentence(r)
        await speak(r, np.concatenate([uh, silence(0.6)]))
        await r.agent.settled()
        assert r.pipeline.false_interruptions == 1
        heard_once(r)

    # The same sound with words in it cuts the answer where the user stopped hearing it.
    script = [{"delay": 0.2, "text": ANSWER}, {"delay": 0.1, "text": "Yes?"}]
    async with rig(script, FixedTranscriber("uh, wait")) as r:
        await into_second_sentence(r)
        await speak(r, np.concatenate([uh, silence(0.6)]))
        await r.agent.settled()
        assert r.pipeline.false_interruptions == 0
        assert kinds(r.agent) == ["user", "assistant", "interruption", "user", "assistant"]
        cut = r.agent.ledger[2]
        assert cut.status == "interrupted" and cut.text.startswith("It is sunny in Paris today. ")
        assert "umbrella" not in cut.text


async def test_switching_the_mic_on_while_the_agent_speaks_is_no_barge_in() -> None:
    rng = np.random.default_rng(11)
    click = (rng.normal(0, 1, 240) * 6000).astype(np.int16)  # the mic going live
    room = rng.normal(0, 120, SAMPLE_RATE * 2).astype(np.int16)  # a fan, a street outside
    async with rig([{"delay": 0.2, "text": ANSWER}], FixedTranscriber("")) as r:
        await r.agent.send("weather?")
        await wait_for(r.agent, lambda: r.output.playing)
        r.pipeline.restart_sequence()  # the browser's mic button: frames numbered from 0 again
        await speak(r, np.concatenate([click, room]))
        await r.agent.settled()
        assert r.pipeline.barge_ins == 0 and r.speaker.stops == 0
        heard_once(r)


async def test_an_answer_that_must_be_heard_is_not_cut_and_the_user_is_answered_after() -> None:
    warning = "This deletes all forty files in the folder. Say yes to go on."
    script = [{"delay": 0.1, "text": "Nothing was deleted."}]
    async with rig(script, FixedTranscriber("wait, which folder?")) as r:
        r.agent.say(warning, interruptible=False)
        await wait_for(r.agent, lambda: bool(r.speaker.spans) or r.output.playing)
        await r.clock.sleep(0.5)
        await speak(r, np.concatenate([speech("Wait, which folder?"), silence(0.6)]))
        await r.agent.settled()

        assert r.speaker.stops == 0 and r.pipeline.barge_ins == 0
        entries = [(e.kind, e.status, e.text) for e in r.agent.ledger if e.kind != "system"]
        assert entries[0][0] == "interruption" and entries[0][1] == "deferred"
        assert entries[1] == ("assistant", "complete", warning)
        assert entries[2] == ("user", None, "wait, which folder?")
        assert entries[3] == ("assistant", "complete", "Nothing was deleted.")
        # The user's words came while the warning played; they were answered after it ended.
        assert r.agent.state is State.IDLE


async def test_the_interruption_policy_sets_how_much_speech_cuts_in() -> None:
    stop = np.concatenate([speech("Stop."), silence(0.6)])
    policy = InterruptionPolicy(min_words=2)  # per agent: one word is not enough
    async with rig([{"delay": 0.2, "text": ANSWER}], FixedTranscriber("Stop."), interruption=policy) as r:
        await into_second_sentence(r)
        await speak(r, stop)
        await r.agent.settled()
        assert r.pipeline.false_interruptions == 1
        heard_once(r)

    script = [{"delay": 0.1, "text": "Okay."}]
    async with rig(script, FixedTranscriber("Stop.")) as r:  # per answer: this one needs 3 s of speech
        r.agent.say(ANSWER, min_seconds=3.0)
        await wait_for(r.agent, lambda: bool(r.speaker.played))
        await r.clock.sleep(0.7)
        await speak(r, stop)
        await r.agent.settled()
        assert r.pipeline.false_interruptions == 1
        assert [e.text for e in r.agent.ledger if e.kind == "assistant"] == [ANSWER]


def test_bad_policies_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="min_words"):
        InterruptionPolicy(min_words=0)
    with pytest.raises(ValueError, match="min_seconds"):
        InterruptionPolicy(min_seconds=-1)


# --- semantic end of turn (Smart Turn v3.2) ----------------------------------------------------

turn_model = pytest.importorskip("ipyagent.audio.turns")
needs_smart_turn = pytest.mark.skipif(
    not turn_model.available(),
    reason="the Smart Turn model is not installed (pip install --no-deps pipecat-ai)",
)


@pytest.fixture(scope="module")
def smart_turn() -> object:
    detector = turn_model.SmartTurn()
    detector.model.get()
    return detector


def ssml(text: str) -> Int16Array:
    """espeak-ng reading SSML (for a pause inside one sentence, with its prosody)."""
    return speech(f"<speak>{text}</speak>", ssml=True)


@needs_smart_turn
async def test_a_pause_mid_sentence_is_not_the_end_of_the_turn(smart_turn: object) -> None:
    said = ssml('I want to book a flight to <break time="600ms"/> Paris, please.')
    script = [{"delay": 0.1, "text": "Booked."}, {"delay": 0.1, "text": "Booked twice."}]
    vad = VadConfig(onset_frames=3, hangover_frames=12)
    async with rig(
        script,
        FixedTranscriber("I want to book a flight to Paris, please."),
        vad=vad,
        turn_detector=smart_turn,
    ) as r:  # type: ignore[arg-type]
        await speak(
            r, np.concatenate([silence(0.4), said, silence(vad.fmt.seconds(vad.max_hangover_frames) + 0.3)])
        )
        await r.agent.settled()
        assert [(e.kind, e.text) for e in r.agent.ledger if e.kind != "system"] == [
            ("user", "I want to book a flight to Paris, please."),
            ("assistant", "Booked."),
        ]
        assert r.pipeline.turn_verdicts[0] < 0.5  # heard as unfinished at the pause


@needs_smart_turn
async def test_a_complete_question_ends_the_turn_sooner_than_the_silence_hangover(smart_turn: object) -> None:
    question = speech("What time is it?")
    vad = VadConfig(onset_frames=3, hangover_frames=12)
    decided = {}
    for detector in (None, smart_turn):
        async with rig(
            [{"delay": 0.1, "text": "Nine."}],
            FixedTranscriber("What time is it?"),
            vad=vad,
            turn_detector=detector,
        ) as r:  # type: ignore[arg-type]
            begin = r.clock.now()
            await speak(r, np.concatenate([silence(0.4), question, silence(1.0)]))
            await r.agent.settled()
            assert kinds(r.agent) == ["user", "assistant"]
            decided[detector is None] = r.pipeline.marks.times["speech_end"] - begin
    # Heard as finished after 210 ms of silence, instead of the 360 ms hangover.
    assert decided[False] < decided[True] - 0.1


@pytest.mark.slow
def test_whisper_hears_no_words_in_a_cough_and_short_words_once() -> None:
    from ipyagent.audio.stt import WhisperTranscriber

    whisper = WhisperTranscriber()  # the window fitted to the utterance, as the pipeline runs it
    pcm = [
        np.concatenate([silence(0.3), s, silence(0.3)]).astype("<i2").tobytes()
        for s in (cough(0.2), speech("Stop."))
    ]
    assert whisper.transcribe(pcm[0]) == ""  # not "I'm gonna kill you.", as it once was
    assert whisper.transcribe(pcm[1]) == "Stop."  # not "Stop. Stop. Stop. ..."
    # The same word with a little digital silence after it (as a browser sends after a mute).
    clipped = np.concatenate([speech("Stop."), np.zeros(2400, np.int16)]).astype("<i2").tobytes()
    assert whisper.transcribe(clipped) == "Stop."
    words = np.concatenate([speech("No, no, wait."), silence(0.3)]).astype("<i2").tobytes()
    assert whisper.transcribe(words).lower().count("no") == 2  # a word said twice is heard twice
