"""The voice widget: mic button, input level, transcript and speaker, bridged to the kernel.

Wire (custom comm messages; audio travels as binary buffers, never as JSON):

browser -> kernel
    {"type": "mic", "rate": 16000, "seq": n} + one buffer: a 30 ms frame of PCM16 mono; n counts
                                            frames from 0 each time the mic is switched on
    {"type": "playback", "chunk": id, "played": samples, "done": bool}
    {"type": "mic_state", "on": bool}       {"type": "ready"}       {"type": "error", "text": str}
kernel -> browser
    {"type": "play", "chunk": id, "rate": hz, "text": str}  + one buffer: PCM16 mono
    {"type": "stop"}
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import anywidget
import traitlets

from .. import bridge
from ..audio import turns
from ..audio.frames import FrameFormat
from ..audio.pipeline import Phase, VoiceListener, VoicePipeline
from ..audio.speech import FIRST_CLAUSE_WORDS, AudioChunk, VoiceOutput
from ..audio.stt import WhisperTranscriber
from ..audio.tts import make_synthesizer
from ..audio.turns import SmartTurn
from ..audio.vad import VadConfig
from ..dispatch.output import InterruptionPolicy
from ..errors import one_line
from .wire import WireError, parse_voice

if TYPE_CHECKING:
    from ..agents import Agent
    from ..agents.updates import Update

log = logging.getLogger(__name__)
# Seconds a note about the conversation (a false interruption, a failed recognition) stays on the
# status line before a dropped frame's reason may replace it.
NOTE_SECONDS = 5.0


class PlayMessage(TypedDict):
    type: Literal["play"]
    chunk: int
    rate: int
    text: str


class VoiceWidget(anywidget.AnyWidget):
    _esm = Path(__file__).with_name("voice.js")
    phase = traitlets.Unicode("off").tag(sync=True)
    transcript = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    agent_state = traitlets.Unicode("idle").tag(sync=True)
    tts = traitlets.Unicode("piper").tag(sync=True)
    played_chunks = traitlets.Int(0).tag(sync=True)
    stopped = traitlets.Int(0).tag(sync=True)
    rejected = traitlets.Int(0).tag(sync=True)
    refused = 0  # messages from the browser that broke the contract in wire.py

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline: VoicePipeline | None = None
        self.connected = False
        self.on_msg(self._on_custom)

    # --- the Speaker protocol (called on the agent's loop) ------------------------------------

    def play(self, chunk: AudioChunk) -> None:
        msg: PlayMessage = {"type": "play", "chunk": chunk.id, "rate": chunk.sample_rate, "text": chunk.text}
        self.send(msg, [chunk.samples.astype("<i2").tobytes()])

    def stop(self) -> None:
        self.send({"type": "stop"})

    # --- from the browser (the kernel's comm handler thread) ----------------------------------

    def _on_custom(self, _: Any, content: Any, buffers: list[Any] | None) -> None:
        try:
            msg = parse_voice(content)
        except WireError as exc:
            self.refused += 1
            if isinstance(content, dict) and content.get("type") == "mic":
                self.rejected += 1  # a microphone frame all the same: the count the user sees
            if self.refused <= 3 or self.refused % 100 == 0:
                log.warning("voice widget: %s (%d refused so far)", exc, self.refused)
            self.status = one_line(str(exc))
            return
        pipeline = self.pipeline
        if pipeline is None:
            return
        if msg["type"] == "mic":
            if not buffers or len(buffers) != 1:
                pipeline.call(pipeline.feed, None, msg["rate"])
                return
            pipeline.submit_frame(buffers[0], msg["rate"], msg.get("seq"))
        elif msg["type"] == "playback":
            self.connected = True
            if msg["done"]:
                self.played_chunks += 1
            pipeline.submit_playback(msg["chunk"], int(msg["played"]), msg["done"])
        elif msg["type"] == "stopped":
            self.stopped += 1
        elif msg["type"] == "ready":
            self.connected = True
        elif msg["type"] == "mic_state":
            self.phase = "quiet" if msg["on"] else "off"
            pipeline.call(pipeline.restart_sequence)  # the browser numbers frames from 0 again
        else:
            self.status = one_line(msg["text"] or "browser error")

    def listener(self) -> VoiceListener:
        """What the pipeline tells this widget: phase, transcript, status, and each rejected
        frame (counted, and the reason shown as the status line)."""

        def set_phase(phase: Phase) -> None:
            self.phase = phase

        def set_transcript(text: str) -> None:
            self.transcript = text

        noted_at = float("-inf")  # clock time of the latest note about the conversation

        def now() -> float:
            return self.pipeline.agent.clock.now() if self.pipeline is not None else 0.0

        def set_status(text: str) -> None:
            nonlocal noted_at
            noted_at = now()
            self.status = text

        def rejected(reason: str) -> None:
            self.rejected += 1
            # A dropped frame (common when the browser is starved) must not hide a note about the
            # conversation the moment it is shown ("false interruption: ..."): the count goes up,
            # and the reason shows once the note has been up for NOTE_SECONDS.
            if now() - noted_at >= NOTE_SECONDS:
                self.status = reason  # the same reason again changes nothing on the wire

        return VoiceListener(phase=set_phase, transcript=set_transcript, status=set_status, rejected=rejected)

    def warm_up(self) -> None:
        """Load the speech models now (blocking) instead of on first use."""
        if self.pipeline is not None:
            synth = self.pipeline.output.synthesizer
            synth.synthesize("Ready.")
            for model in (self.pipeline.transcriber, self.pipeline.turn_detector):
                warm = getattr(model, "model", None)
                if warm is not None:
                    warm.get()

    # --- building -----------------------------------------------------------------------------

    @classmethod
    def attach(
        cls,
        agent: Agent,
        *,
        tts: str = "piper",
        aggressiveness: int = 2,
        onset_frames: int = 3,
        hangover_frames: int = 12,
        frame_ms: int = 30,
        turn_detection: bool = True,
        speculate: bool | None = None,
        interruption: InterruptionPolicy | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> VoiceWidget:
        """Make ``agent`` speak and listen through a new widget (see :func:`ipyagent.widgets.voice`)."""
        widget = cls(tts=tts)
        if interruption is not None:
            agent.interruption = interruption

        def status(text: str) -> None:
            widget.status = text

        synth = make_synthesizer(tts, status)
        output = VoiceOutput(synth, widget, agent.clock, first_clause_words=FIRST_CLAUSE_WORDS)
        agent.set_output(output)
        listener = widget.listener()
        vad = VadConfig(aggressiveness, onset_frames, hangover_frames, fmt=FrameFormat(frame_ms))
        loop = loop or _agent_loop(agent)
        detector = SmartTurn(status=status) if turn_detection and turns.available() else None
        pipeline = VoicePipeline(
            agent,
            output,
            WhisperTranscriber(status=status),
            vad=vad,
            turn_detector=detector,
            listener=listener,
            loop=loop,
            speculate=speculate,
        )
        widget.pipeline = pipeline

        def on_update(update: Update) -> None:
            from ..agents.updates import StateChanged

            if isinstance(update, StateChanged) and update.agent is agent:
                widget.agent_state = str(update.new)

        agent.subscribe(on_update)
        bridge.submit(loop, pipeline.run)
        return widget


def _agent_loop(agent: Agent) -> asyncio.AbstractEventLoop:
    """The loop the agent runs on, else the caller's (the agent starts on it)."""
    if agent.loop is not None:
        return agent.loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("voice(agent) needs the agent's event loop: pass loop=...") from None
