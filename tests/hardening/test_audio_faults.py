"""Audio faults through the voice widget's comm handler and the voice pipeline, on a virtual
clock: bursts of hundreds of frames, duplicated and out-of-order sequence numbers, oversized,
empty and odd-length frames, the wrong sample rate. Each bad frame is counted and its reason shown
on the widget's status line; the agent stays idle, and speech after the fault is still heard and
answered."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from ipyagent import Agent, State
from ipyagent.audio import VadConfig
from ipyagent.audio.pipeline import VoicePipeline
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput
from ipyagent.audio.tts import EspeakSynthesizer
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock
from ipyagent.widgets.voice import VoiceWidget
from support.faultlog import FaultRecorder
from support.sounds import FixedTranscriber, frames_of, needs_espeak, silence, speech

pytestmark = needs_espeak
QUESTION = "what time is it"


@dataclass
class Rig:
    clock: VirtualClock
    agent: Agent
    pipeline: VoicePipeline
    widget: VoiceWidget
    transcriber: FixedTranscriber
    seq: int = 0

    def send(self, frame: Any, *, rate: Any = 16000, seq: Any = None, buffers: Any = "frame") -> None:
        """One comm message from the browser, as the kernel's handler receives it."""
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        self.widget._on_custom(
            self.widget, {"type": "mic", "rate": rate, "seq": seq}, [frame] if buffers == "frame" else buffers
        )

    async def say(self, frames: list[bytes]) -> None:
        """Frames at the pace a browser sends them: one per 30 ms of the virtual clock."""
        for frame in frames:
            self.send(frame)
            await self.clock.sleep(0.03)

    async def answered(self, n: int) -> None:
        """The ``n``-th spoken question became a user turn and was answered; the agent is idle."""
        with anyio.fail_after(30):  # real seconds: speech recognition runs in a real thread
            while sum(e.kind == "user" for e in self.agent.ledger) < n:
                await self.clock.sleep(0.1)
            await self.agent.settled()
        users = [e for e in self.agent.ledger if e.kind == "user"]
        assert [(e.source, e.text) for e in users][-1] == ("voice", QUESTION)
        assert self.agent.ledger[-1].kind == "assistant"
        assert self.agent.state is State.IDLE


UTTERANCE = None


def utterance() -> list[bytes]:
    global UTTERANCE
    if UTTERANCE is None:
        UTTERANCE = frames_of(silence(0.3), speech(QUESTION), silence(0.8))
    return list(UTTERANCE)


@asynccontextmanager
async def rig(answers: int = 4) -> AsyncIterator[Rig]:
    async with VirtualClock() as clock:
        speaker = ClockSpeaker(clock, report_ms=50)
        output = VoiceOutput(EspeakSynthesizer(), speaker, clock)
        speaker.output = output
        backend = ScriptedBackend.from_list([{"text": "It is nine."}] * answers, clock)
        async with (
            Agent(backend, clock=clock, output=output, builtins=False) as agent,
            anyio.create_task_group() as tg,
        ):
            widget = VoiceWidget()
            transcriber = FixedTranscriber(QUESTION)
            pipeline = VoicePipeline(
                agent,
                output,
                transcriber,
                vad=VadConfig(onset_frames=3, hangover_frames=10),
                listener=widget.listener(),
            )
            widget.pipeline = pipeline
            tg.start_soon(speaker.run)
            await tg.start(pipeline.run)
            widget._on_custom(widget, {"type": "mic_state", "on": True}, [])
            yield Rig(clock, agent, pipeline, widget, transcriber)
            pipeline.close()
            widget.close()
            tg.cancel_scope.cancel()


async def test_a_burst_of_hundreds_of_frames_is_heard_as_one_utterance(faults: FaultRecorder) -> None:
    frames = utterance()
    with faults(f"audio: burst of {len(frames)} frames at once", "one transcript, then the answer") as row:
        async with rig() as r:
            for frame in frames:  # all in one go, as a stalled connection delivers them
                r.send(frame)
            await r.answered(1)
            assert r.transcriber.heard >= 1 and r.pipeline.rejected == 0
            row.seen = f"transcript {r.widget.transcript!r}; answered {r.agent.ledger[-1].text!r}"
            await r.say(utterance())
            await r.answered(2)


async def test_duplicated_and_out_of_order_frames_are_dropped(faults: FaultRecorder) -> None:
    frames = utterance()
    with faults("audio: duplicated + out-of-order sequence numbers", "status: frame N is a duplicate") as row:
        async with rig() as r:
            order: list[int] = []
            for n in range(len(frames)):
                order.append(n)
                if n % 10 == 3:
                    order.append(n)  # sent twice
            for i in range(5, len(order) - 1, 17):
                order[i], order[i + 1] = order[i + 1], order[i]  # two frames swapped on the way
            late = sum(1 for i, n in enumerate(order) if any(m >= n for m in order[:i]))
            for n in order:
                r.send(frames[n], seq=n)
                await r.clock.sleep(0.03)
            await r.answered(1)
            row.seen = f"{r.widget.status}  ({r.widget.rejected} dropped)"
            assert r.pipeline.late_frames == r.widget.rejected == late > 10
            assert r.widget.status.startswith("microphone frame rejected: frame ")
            assert "dropped" in r.widget.status
            # The mic restarts: numbering starts again at 0 and is taken.
            r.widget._on_custom(r.widget, {"type": "mic_state", "on": True}, [])
            r.seq = 0
            await r.say(utterance())
            await r.answered(2)
            assert r.widget.rejected == late


BAD_FRAMES: list[tuple[str, dict[str, Any], str]] = [
    ("oversized frame (1 MB)", {"frame": b"\x01\x02" * (512 * 1024)}, "1048576 bytes; a 30 ms frame"),
    ("empty frame", {"frame": b""}, "0 bytes; a 30 ms frame"),
    ("odd-length frame (961 bytes)", {"frame": b"\x01" * 961}, "961 bytes; a 30 ms frame"),
    ("wrong sample rate (44.1 kHz)", {"rate": 44100}, "sample rate 44100 Hz; the browser must resample"),
    ("no audio buffer", {"buffers": []}, "expected binary PCM16, got NoneType"),
    ("text instead of audio", {"frame": "AAAA"}, "expected binary PCM16, got str"),
    ("bad sequence number", {"seq": "seven"}, "'seq' must be a whole number"),
]


@pytest.mark.parametrize(("what", "fault", "reason"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
async def test_bad_frames_are_rejected_with_a_clear_reason(
    what: str, fault: dict[str, Any], reason: str, faults: FaultRecorder
) -> None:
    good = utterance()[0]
    with faults(f"audio: {what}", f"status: {reason}") as row:
        async with rig() as r:
            r.send(fault.get("frame", good), **{k: v for k, v in fault.items() if k != "frame"})
            row.seen = r.widget.status
            assert r.widget.status == f"microphone frame rejected: {reason}" or reason in r.widget.status
            assert r.widget.rejected == 1
            assert r.agent.state is State.IDLE
            assert [e.kind for e in r.agent.ledger] == ["system"]  # nothing was heard or recorded
            await r.say(utterance())
            await r.answered(1)


async def test_memory_bounded_under_a_flood_of_bad_frames(faults: FaultRecorder) -> None:
    per_kind = 200
    good = utterance()[0]
    kinds: list[dict[str, Any]] = [
        {"frame": b"\x01\x02" * (64 * 1024)},
        {"frame": b""},
        {"frame": b"\x01" * 961},
        {"rate": 48000},
        {"seq": 0},  # a duplicate of the first frame
    ]
    with faults("audio: flood of bad frames (5 kinds)", "status line; counter", per_kind * len(kinds)) as row:
        async with rig() as r:
            r.send(good, seq=0)
            r.seq = 1

            def flood(times: int) -> None:
                for _ in range(times):
                    for kind in kinds:
                        r.send(kind.get("frame", good), **{k: v for k, v in kind.items() if k != "frame"})

            flood(10)
            tracemalloc.start()
            try:
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
                flood(per_kind - 10)
                gc.collect()
                retained = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            row.seen = f"{r.widget.status}  [{r.widget.rejected} rejected, {retained} B retained]"
            print(f"\naudio: {r.widget.rejected} bad frames, {retained} bytes retained")
            assert r.widget.rejected == per_kind * len(kinds)
            # Not the frames (128 KiB each for the oversized ones): only a few log records and
            # traitlet notifications, the same for any number of bad frames.
            assert retained < 64 * 1024
            assert [e.kind for e in r.agent.ledger] == ["system"]
            r.seq = 1
            await r.say(utterance())
            await r.answered(1)
