"""Speculative generation by voice, on a virtual clock with espeak-ng speech: the model starts on
the words heard at the user's first pause; the answer is kept only when the turn ends there, and is
never heard before it ends; when the user goes on, it is discarded and the turn answered afresh."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ipyagent.audio import VadConfig
from ipyagent.audio.frames import SAMPLE_RATE
from support.sounds import FixedTranscriber, needs_espeak, silence, speech
from support.voice_rig import rig, speak

pytestmark = needs_espeak
# A patient end of turn (750 ms of silence): the model has time to get going at the pause.
PATIENT = VadConfig(onset_frames=3, hangover_frames=25)


async def test_a_confirmed_turn_is_answered_from_the_speculation_sooner_and_never_early() -> None:
    question = np.concatenate([silence(0.4), speech("What time is it?"), silence(2.0)])
    latency = {}
    for speculate in (False, True):
        async with rig(
            [{"delay": 0.3, "text": "It is nine o'clock."}],
            FixedTranscriber("What time is it?"),
            vad=PATIENT,
            speculate=speculate,
        ) as r:
            await speak(r, question)
            await r.agent.settled()
            end_of_turn = r.pipeline.marks.times["speech_end"]
            first_audio = r.speaker.spans[0][0]
            # Not a sound of the answer before the turn was over, though it was ready long before.
            assert first_audio >= end_of_turn
            latency[speculate] = first_audio - end_of_turn
            assert [(e.kind, e.text) for e in r.agent.ledger if e.kind != "system"] == [
                ("user", "What time is it?"),
                ("assistant", "It is nine o'clock."),
            ]
            assert "".join(r.delivered) == "It is nine o'clock."
            if speculate:  # its speech was made ahead too, while the user paused, and made once
                assert [(t < end_of_turn, text) for t, text in r.synth.calls] == [
                    (True, "It is nine o'clock.")
                ]
                assert r.output.prepared_hits == 1
            used = r.agent.dispatcher.speculations
            assert used == (
                {"started": 1, "adopted": 1, "discarded": 0}
                if speculate
                else {"started": 0, "adopted": 0, "discarded": 0}
            )
    # The model started 210 ms into the pause, not after the 750 ms hangover: its 0.3 s is hidden.
    assert latency[False] >= 0.29, latency
    assert latency[True] < 0.05


@dataclass
class GrowingTranscriber:
    """Hears the start of the sentence in audio shorter than ``cut`` seconds, all of it after."""

    start: str
    whole: str
    cut: float

    def transcribe(self, pcm16: bytes) -> str:
        return self.start if len(pcm16) / 2 / SAMPLE_RATE < self.cut else self.whole


async def test_a_turn_that_goes_on_after_the_pause_discards_the_speculation() -> None:
    first, second = speech("I want to book a flight to"), speech("Paris, please.")
    # 0.35 s of trailing quiet in the recording + 0.25 s: a 600 ms pause, under the hangover.
    said = np.concatenate([silence(0.4), first, silence(0.25), second, silence(2.0)])
    whole = "I want to book a flight to Paris, please."
    transcriber = GrowingTranscriber("I want to book a flight to", whole, cut=len(first) / SAMPLE_RATE + 0.5)
    # The first turn of the script answers the fragment: whoever takes it, it must never be heard.
    script = [{"delay": 0.1, "text": "Where to?"}, {"delay": 0.1, "text": "Booked for Paris."}]
    async with rig(script, transcriber, vad=PATIENT, speculate=True) as r:
        await speak(r, said)
        await r.agent.settled()
        assert r.pipeline.marks.times["speculation_dropped"] < r.pipeline.marks.times["speech_end"]
        assert [(e.kind, e.text) for e in r.agent.ledger if e.kind != "system"] == [
            ("user", whole),
            ("assistant", "Booked for Paris."),
        ]
        assert "".join(r.delivered) == "Booked for Paris."
        assert len(r.speaker.played) == 1  # one piece reached the speaker: the final answer
        assert r.speaker.spans[0][0] >= r.pipeline.marks.times["speech_end"]
        # The guess at the pause was thrown away; the one on the whole sentence was used.
        assert r.agent.dispatcher.speculations == {"started": 2, "adopted": 1, "discarded": 1}


async def test_by_default_a_scripted_model_is_not_speculated_on_and_a_real_one_is() -> None:
    class Model:  # any backend that is not a script
        name = "model"

        def __init__(self, inner: object) -> None:
            self.inner = inner

        def stream(self, context: object, *, agent: str) -> object:
            return self.inner.stream(context, agent=agent)  # type: ignore[attr-defined]

    async with rig([{"delay": 0.1, "text": "Nine."}], FixedTranscriber("What time is it?")) as r:
        r.pipeline.speculate = None
        assert not r.pipeline.speculating  # each discarded guess would use up a scripted turn
        r.agent.set_backend(Model(r.agent.backend))  # type: ignore[arg-type]
        assert r.pipeline.speculating
        await speak(r, np.concatenate([silence(0.4), speech("What time is it?"), silence(1.0)]))
        await r.agent.settled()
        assert r.agent.dispatcher.speculations["adopted"] == 1
