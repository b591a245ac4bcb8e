"""A voice pipeline wired to an agent on a virtual clock, with espeak-ng as the voice and a
speaker that plays in clock time: the rig the voice tests speak into."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from ipyagent import Agent
from ipyagent.agents import EventHandled, TextDelivered, Update
from ipyagent.audio import VadConfig
from ipyagent.audio.frames import Int16Array
from ipyagent.audio.pipeline import VoicePipeline
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput
from ipyagent.audio.stt import Transcriber
from ipyagent.audio.tts import EspeakSynthesizer
from ipyagent.audio.turns import TurnDetector
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.dispatch.output import InterruptionPolicy
from ipyagent.testing import VirtualClock
from support.sounds import frames_of, silence

RIG_VAD = VadConfig(onset_frames=3, hangover_frames=10)


class RecordingSynth(EspeakSynthesizer):
    """espeak-ng, noting the clock time and text of each sentence it is asked to speak."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.calls: list[tuple[float, str]] = []
        self.made: dict[str, Int16Array] = {}

    def synthesize(self, text: str) -> Int16Array:
        self.calls.append((self.clock.now(), text))
        self.made[text] = samples = super().synthesize(text)
        return samples


@dataclass
class Rig:
    clock: VirtualClock
    agent: Agent
    pipeline: VoicePipeline
    output: VoiceOutput
    speaker: ClockSpeaker
    synth: RecordingSynth
    delivered: list[str]  # each piece of the answers as the user received it (heard words)


@asynccontextmanager
async def rig(
    script: list[dict[str, object]],
    transcriber: Transcriber,
    *,
    vad: VadConfig = RIG_VAD,
    turn_detector: TurnDetector | None = None,
    interruption: InterruptionPolicy | None = None,
    tools: Iterable[Callable[..., Any]] = (),
    speculate: bool = False,
) -> AsyncIterator[Rig]:
    async with VirtualClock() as clock:
        synth = RecordingSynth(clock)
        speaker = ClockSpeaker(clock, report_ms=50)
        output = VoiceOutput(synth, speaker, clock)
        speaker.output = output
        backend = ScriptedBackend.from_list(script, clock)
        delivered: list[str] = []

        def on_update(u: Update) -> None:
            if isinstance(u, TextDelivered):
                delivered.append(u.text)

        async with (
            Agent(
                backend, clock=clock, output=output, builtins=False, tools=tools, interruption=interruption
            ) as agent,
            anyio.create_task_group() as tg,
        ):
            agent.subscribe(on_update)
            pipeline = VoicePipeline(
                agent, output, transcriber, vad=vad, turn_detector=turn_detector, speculate=speculate
            )
            tg.start_soon(speaker.run)
            await tg.start(pipeline.run)
            # The mic has been on in a quiet room: the VAD has measured it (see VadConfig).
            for frame in frames_of(silence(vad.fmt.seconds(vad.calibration_frames)), fmt=vad.fmt):
                pipeline.feed(frame, 16000)
            try:
                yield Rig(clock, agent, pipeline, output, speaker, synth, delivered)
            finally:  # a failed test must not leave the pipeline's streams for the next one
                pipeline.close()
                tg.cancel_scope.cancel()


async def speak(r: Rig, samples: Int16Array) -> None:
    """Feed audio to the pipeline in real-time steps of the virtual clock (one frame per 30 ms)."""
    for frame in frames_of(samples):
        await r.clock.sleep(0.03)
        r.pipeline.feed(frame, 16000)


def on_event(agent: Agent, cls: type, clock: VirtualClock) -> list[float]:
    """A list that fills with the clock time of each handled event of class ``cls``."""
    times: list[float] = []

    def update(u: Update) -> None:
        if isinstance(u, EventHandled) and isinstance(u.event, cls):
            times.append(clock.now())

    agent.subscribe(update)
    return times
