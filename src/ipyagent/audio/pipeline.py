"""The listening side and the barge-in rule, wired to an agent.

:class:`VoicePipeline` takes microphone frames (from the browser, through the voice widget),
runs the VAD on each, and:

- on speech onset: if the agent is generating or speaking (or audio is still playing), stops the
  speaker at once (barge-in), then posts :class:`~ipyagent.events.UserStartedSpeaking`;
- on end of speech: transcribes the utterance in a worker thread and posts the transcript as a
  :class:`~ipyagent.events.UserMessage` with source ``"voice"``.

Recognition starts early, at the first short pause (``pause_frames``), while the VAD still waits out
its hangover; if the user goes on speaking that early result is thrown away, otherwise it is the
transcript, and the hangover costs no latency.

Every method that touches the agent runs on the agent's event loop; :meth:`submit_frame` and the
other ``submit_*`` methods may be called from any thread (the kernel's comm handlers) and hop over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import bridge
from .. import events as ev
from ..agents.updates import EntryAdded, Update
from ..clock import RealClock, TimedOut, run_with_timeout
from ..fsm import State
from .frames import BadFrame, FrameFormat, check_frame
from .speech import VoiceOutput
from .stt import Transcriber
from .vad import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted, VadConfig, VadSegmenter

_REAL_TIME = RealClock()

if TYPE_CHECKING:
    from ..agents import Agent

log = logging.getLogger(__name__)

Phase = Literal["off", "quiet", "speaking", "transcribing"]


@dataclass
class VoiceListener:
    """What the pipeline tells the widget; every callback is optional."""

    phase: Callable[[Phase], None] = lambda _: None
    transcript: Callable[[str], None] = lambda _: None
    status: Callable[[str], None] = lambda _: None
    rejected: Callable[[str], None] = lambda _: None


@dataclass(eq=False)
class _Early:
    """A transcription started at a pause, before the VAD decided the utterance had ended."""

    audio: bytes
    done: asyncio.Event = field(default_factory=asyncio.Event)
    text: str | None = None
    error: Exception | None = None
    wanted: bool = True  # False once speech resumed


@dataclass
class Marks:
    """Clock times of the pipeline's milestones, for the benchmark and the widget."""

    times: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        self.times.clear()


class VoicePipeline:
    """Mic frames in; user turns, barge-ins and transcripts out.

    Invariant: ``_send`` carries ended utterances (their audio, or the early transcription that
    covers them) to the single consumer in :meth:`run`, so transcripts are posted in the order the
    user spoke. ``_early`` is the early transcription of the utterance in progress, if any.
    """

    def __init__(
        self,
        agent: Agent,
        output: VoiceOutput,
        transcriber: Transcriber,
        *,
        vad: VadConfig | None = None,
        classifier: Callable[[bytes], bool] | None = None,
        listener: VoiceListener | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.agent = agent
        self.output = output
        self.transcriber = transcriber
        self.vad = VadSegmenter(vad, classifier)
        self.fmt: FrameFormat = self.vad.config.fmt
        self.listener = listener or VoiceListener()
        self.marks = Marks()
        self.rejected = 0
        self.barge_ins = 0
        # Invariant: the highest sequence number taken since the mic (re)started, or None.
        self._last_seq: int | None = None
        self.late_frames = 0  # duplicated or out of order: dropped
        self.lost_frames = 0  # numbers skipped: never arrived
        self._loop = loop
        self._send: MemoryObjectSendStream[bytes | _Early]
        self._receive: MemoryObjectReceiveStream[bytes | _Early]
        self._send, self._receive = anyio.create_memory_object_stream[bytes | _Early](16)
        self._early: _Early | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.early_hits = 0
        # Speech recognition runs on one thread of its own, one utterance at a time: an early
        # start and the next one never compete for the model or the two cores.
        self._stt = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipyagent-stt")
        self.stt_timeout = 20.0  # real seconds
        self._unsubscribe = agent.subscribe(self._on_update)
        self.output.mark = self._mark

    # --- thread-safe doors (comm handlers) ----------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the pipeline's loop: directly if already there, else scheduled."""
        if self._loop is None:
            fn(*args)
        else:
            bridge.call_soon(self._loop, fn, *args)

    def submit_frame(self, data: Any, sample_rate: Any, seq: Any = None) -> None:
        self.call(self.feed, data, sample_rate, seq)

    def submit_playback(self, chunk_id: int, played: int, done: bool) -> None:
        self.call(self.output.on_playback, chunk_id, played, done)

    # --- on the loop --------------------------------------------------------------------------

    def _mark(self, name: str) -> None:
        self.marks.times[name] = self.agent.clock.now()

    def feed(self, data: Any, sample_rate: Any = 16_000, seq: Any = None) -> None:
        """Take one frame. A malformed one, or one that arrives late or twice, is logged and
        dropped; nothing else changes. ``seq`` numbers the frames from 0 each time the mic starts
        (:meth:`restart_sequence`); frames without one are taken as they come."""
        try:
            frame = check_frame(data, sample_rate, self.fmt)
            if seq is not None:
                self._check_order(seq)
        except BadFrame as exc:
            self.rejected += 1
            if self.rejected <= 3 or self.rejected % 100 == 0:
                log.warning("%s (%d rejected so far)", exc, self.rejected)
            self.listener.rejected(str(exc))
            return
        try:
            self._handle(frame)
        except Exception:  # a bug here must not reach the kernel's comm handler; say what broke
            log.exception("voice: handling a microphone frame failed")

    def _check_order(self, seq: Any) -> None:
        """Raise BadFrame for a frame that is not newer than the last one taken: the VAD has
        moved past it. A jump forward means frames were lost on the way; they are counted and
        the VAD carries on."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise BadFrame(f"sequence number must be a whole number >= 0, got {seq!r}")
        last = self._last_seq
        if last is not None and seq <= last:
            self.late_frames += 1
            what = "a duplicate" if seq == last else "out of order"
            raise BadFrame(f"frame {seq} is {what} (frame {last} was already heard); dropped")
        if last is not None and seq > last + 1:
            self.lost_frames += seq - last - 1
        self._last_seq = seq

    def restart_sequence(self) -> None:
        """The mic was switched on or off: the browser numbers frames from 0 again."""
        self._last_seq = None
        self.vad.reset()

    def _handle(self, frame: bytes) -> None:
        for event in self.vad.feed(frame):
            if isinstance(event, SpeechStarted):
                self._speech_started()
            elif isinstance(event, SpeechPaused):
                self._speech_paused(event)
            elif isinstance(event, SpeechResumed):
                if self._early is not None:
                    self._early.wanted = False
                    self._early = None
            elif isinstance(event, SpeechEnded):
                self._speech_ended(event)

    def _speech_started(self) -> None:
        self._mark("speech_onset")
        if self.output.playing or self.agent.state in (State.GENERATING, State.EMITTING):
            self.barge_ins += 1
            self.output.stop()  # stop the sound first: the FSM records what was heard so far
            self._mark("barge_in")
        self.agent.post(ev.UserStartedSpeaking())
        self.listener.phase("speaking")

    def _speech_paused(self, event: SpeechPaused) -> None:
        if self._loop is None or self._early is not None:
            return
        early = _Early(event.audio)
        # A plain asyncio task: this may run in a loop callback (a frame handed over from the
        # comm thread), where an anyio task group cannot start tasks.
        task = self._loop.create_task(self._transcribe_early(early), name="early speech recognition")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._early = early

    async def _recognise(self, audio: bytes) -> str:
        loop = asyncio.get_running_loop()
        with self.agent.clock.holding():
            future = loop.run_in_executor(self._stt, self.transcriber.transcribe, audio)
            try:
                # Recognition takes real time in a thread, whatever clock the agent runs on.
                return await run_with_timeout(_REAL_TIME, self.stt_timeout, lambda: future)
            except TimedOut:
                # A stuck recogniser must not deafen the agent for good: leave its thread behind
                # and start a fresh one for the next utterance.
                stuck, self._stt = self._stt, ThreadPoolExecutor(1, thread_name_prefix="ipyagent-stt")
                stuck.shutdown(wait=False)
                raise TimeoutError(f"no result after {self.stt_timeout:g} s; restarted it") from None

    async def _transcribe_early(self, early: _Early) -> None:
        try:
            early.text = await self._recognise(early.audio)
        except Exception as exc:
            early.error = exc
        finally:
            early.done.set()

    def _speech_ended(self, event: SpeechEnded) -> None:
        self._mark("speech_end")
        self.listener.phase("transcribing")
        early, self._early = self._early, None
        try:
            self._send.send_nowait(early if early is not None and early.wanted else event.audio)
        except anyio.WouldBlock:
            log.warning("speech recognition is %d utterances behind; dropping the newest", 16)

    def _on_update(self, update: Update) -> None:
        # Cut off by anything (typed message, button, %interrupt): the speaker must stop too.
        if isinstance(update, EntryAdded) and update.entry.kind == "interruption" and self.output.playing:
            self.output.stop()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Transcribe utterances as they end; run this on the agent's loop for as long as voice is on."""
        self._loop = asyncio.get_running_loop()
        async with self._receive:
            task_status.started()
            async for item in self._receive:
                await self._transcribe(item)

    async def _transcribe(self, item: bytes | _Early) -> None:
        try:
            if isinstance(item, _Early):
                await item.done.wait()
                self.early_hits += 1
                if item.error is not None:
                    raise item.error
                text = item.text or ""
            else:
                text = await self._recognise(item)
        except Exception as exc:
            log.warning("speech recognition failed: %s", exc)
            self.listener.status(f"speech recognition failed: {exc}")
            self.listener.phase("quiet")
            return
        self._mark("transcript")
        self.listener.phase("speaking" if self.vad.speaking else "quiet")
        if not text.strip():
            self.listener.status("(no words recognised)")
            return
        self.listener.transcript(text)
        self.agent.post(ev.UserMessage(text, "voice"))

    def close(self) -> None:
        self._unsubscribe()
        self.output.stop()
        self.vad.reset()
        self._send.close()
        for task in self._tasks:
            task.cancel()
        self._stt.shutdown(wait=False, cancel_futures=True)
