"""The listening side and the barge-in rule, wired to an agent.

:class:`VoicePipeline` takes microphone frames (from the browser, through the voice widget),
runs the VAD on each, and:

- on speech onset while the agent is quiet: posts :class:`~ipyagent.events.UserStartedSpeaking`
  (the agent listens and holds back whatever it has to say);
- on speech onset while the agent is generating or speaking (a barge-in): pauses the speaker at
  once, keeping the unheard rest. The sound is judged when it ends (:class:`InterruptionPolicy`):
  words cut the answer off (an :class:`~ipyagent.events.Interrupt`, then the words as a user
  turn); a cough, an "uh" or a door is a *false interruption*: the answer resumes from the first
  word the user did not hear, and the ledger records it. An answer that may not be cut
  (``interruptible=False``) plays on; the user's words are answered after it;
- on every voiced frame: tells the agent the user is still talking, so its listen timer counts
  silence, not time since the onset;
- at the first pause (90 ms of silence): asks the turn detector (:mod:`.turns`) whether the
  user is done, and keeps the utterance open until it answers; once the pause has lasted 210 ms
  (shorter ones are commas and breaths), "done" ends it at once, "mid-sentence" is asked once
  more on the longer pause, and then leaves it open until speech resumes or the VAD's longer
  hangover (1.5 s) runs out. Asked at 90 ms, the verdict is usually in by 210 ms;
- when frames stop arriving mid-utterance (the mic switched off, the tab hidden, the connection
  lost) for ``mic_gap`` seconds of the clock: ends the utterance with what was heard, so a paused
  answer is still resumed or cut, and nothing waits for frames that will not come;
- on end of speech: transcribes the utterance in a worker thread and posts the transcript as a
  :class:`~ipyagent.events.UserMessage` with source ``"voice"``.

Recognition starts early, at the first short pause (``pause_frames``), while the VAD still waits out
its hangover; if the user goes on speaking that early result is thrown away, otherwise it is the
transcript, and the hangover costs no latency.

With ``speculate=True`` (``None``: unless the model is scripted) the model starts on that early
transcript too, once the pause has lasted ``speculate_frames`` (210 ms) and the words are known
(:meth:`~ipyagent.Agent.speculate`), and the first piece of its answer is synthesised: nothing is
said before the turn is over; when it ends with those words the answer is ready, and when the
user goes on the guess is discarded (nothing said, nothing recorded) and the final turn is
answered afresh.

Every method that touches the agent runs on the agent's event loop; :meth:`submit_frame` and the
other ``submit_*`` methods may be called from any thread (the kernel's comm handlers) and hop over.
"""

from __future__ import annotations

import asyncio
import logging
import re
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
from ..dispatch.backends import ScriptedBackend
from ..dispatch.output import InterruptionPolicy
from ..fsm import State
from .frames import BadFrame, FrameFormat, check_frame
from .speech import VoiceOutput
from .stt import Transcriber
from .turns import TurnDetector
from .vad import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted, VadConfig, VadSegmenter

_REAL_TIME = RealClock()

if TYPE_CHECKING:
    from ..agents import Agent

log = logging.getLogger(__name__)

Phase = Literal["off", "quiet", "speaking", "transcribing"]
# Sounds people make that are not words: a transcript of only these (or nothing) is no barge-in.
FILLERS = frozenset(
    {"uh", "um", "umm", "uhm", "er", "erm", "ah", "eh", "hm", "hmm", "mm", "mhm", "mmm", "oh", "huh"}
)
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪")  # "[coughs]", "(sighs)", "*cough*"


def spoken_words(text: str) -> list[str]:
    """The words of a transcript that carry meaning: no sound annotations, no fillers."""
    words = re.findall(r"[a-z0-9']+", _ANNOTATION.sub(" ", text.lower()))
    return [w for w in words if w not in FILLERS]


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
    speculated: bool = False  # the model was started on it (or it was considered and refused)


@dataclass(eq=False)
class _Pause:
    """A pause in the utterance the turn detector is judging."""

    start: int  # the index of its first silent frame
    asked_at: int = 0  # silent frames when the detector was (last) asked
    verdict: float | None = None  # its answer, once in


@dataclass(eq=False)
class _BargeIn:
    """The user spoke over an answer; until the sound is judged, the answer waits (paused) or,
    if it may not be cut, plays on."""

    policy: InterruptionPolicy
    paused: bool


@dataclass(frozen=True, slots=True)
class _Utterance:
    """An ended utterance on its way to recognition, and the barge-in it may decide."""

    audio: bytes | _Early
    barge: _BargeIn | None


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
        turn_detector: TurnDetector | None = None,
        listener: VoiceListener | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        speculate: bool | None = False,
    ) -> None:
        self.agent = agent
        self.output = output
        self.transcriber = transcriber
        self.vad = VadSegmenter(vad, classifier)
        self.fmt: FrameFormat = self.vad.config.fmt
        self.turn_detector = turn_detector
        self.turn_threshold = 0.5  # Smart Turn's own cut-off between complete and not
        # Silence before a "finished" verdict may end the turn (210 ms): shorter gaps are commas
        # and breaths, after which a sentence can sound finished even though the user goes on.
        self.turn_check_frames = max(self.vad.config.pause_frames, 210 // self.fmt.frame_ms)
        # Silence after which the detector is first asked (the first pause, 90 ms): its verdict
        # is ready by the time the pause has lasted long enough to act on it. Heard as unfinished
        # there, it is asked once more at ``turn_check_frames``.
        self.turn_verdict_frames = self.vad.config.pause_frames
        self.turn_verdicts: list[float] = []
        # True, False, or None: on unless the agent's model is a scripted one (it replays its
        # turns whatever was said, so every discarded guess would use one up).
        self.speculate = speculate
        # Seconds without a frame, mid-utterance, after which the microphone counts as stopped
        # (frames come every 30 ms; a browser under load may hold them back a few hundred ms).
        self.mic_gap = 1.0
        self._last_frame_at = float("-inf")
        self._watching = False  # a microphone watchdog runs for the utterance in progress
        self.early_recognition = True  # False: recognise only once the utterance has ended
        # Silence before the model may start on the early transcript: shorter gaps are breaths.
        self.speculate_frames = self.turn_check_frames
        self.listener = listener or VoiceListener()
        self.marks = Marks()
        self.rejected = 0
        self.barge_ins = 0
        # Invariant: the highest sequence number taken since the mic (re)started, or None.
        self._last_seq: int | None = None
        self.late_frames = 0  # duplicated or out of order: dropped
        self.lost_frames = 0  # numbers skipped: never arrived
        self._loop = loop
        self._send: MemoryObjectSendStream[_Utterance]
        self._receive: MemoryObjectReceiveStream[_Utterance]
        self._send, self._receive = anyio.create_memory_object_stream[_Utterance](16)
        self._early: _Early | None = None
        # Invariant: the barge-in not yet judged (at most one: a second sound before the verdict
        # is judged with it), else None.
        self._barge: _BargeIn | None = None
        self.false_interruptions = 0
        self.deferred_interruptions = 0
        # The pause the turn detector is judging, None once speech resumed.
        self._pause: _Pause | None = None
        self._turns = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipyagent-turn")
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
        self._last_frame_at = self.agent.clock.now()
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
        self._pause = None
        if self._barge is not None:  # the sound that paused the answer is gone with the mic
            self._judge_barge_in(self._barge, "", "the microphone was switched")

    def _handle(self, frame: bytes) -> None:
        events = self.vad.feed(frame)
        if self.vad.last_voiced:
            self.agent.user_active()  # the listen timer counts silence, not time since the onset
        for event in events:
            self._on_vad(event)
        silent = self.vad.silent_frames
        if silent == self.speculate_frames:
            self._maybe_speculate()
        if self.turn_detector is None or self._loop is None or not silent:
            return
        if silent == self.turn_verdict_frames:
            self._pause = _Pause(self.vad.frames_seen - silent)
            # The verdict decides, not the race between the model and the silence hangover: until
            # it comes (or the longer hangover runs out) the utterance stays open.
            self.vad.hold()
            self._ask_turn_detector(self._pause)
        if silent == self.turn_check_frames:
            self._decide_turn()

    def _on_vad(self, event: SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded) -> None:
        if isinstance(event, SpeechStarted):
            self._speech_started()
        elif isinstance(event, SpeechPaused):
            self._speech_paused(event)
        elif isinstance(event, SpeechResumed):
            self._pause = None
            if self._early is not None:
                self._early.wanted = False
                if self._early.speculated and self.agent.drop_speculation():
                    self._mark("speculation_dropped")
                    self.output.forget_prepared()
                self._early = None
        elif isinstance(event, SpeechEnded):
            self._speech_ended(event)

    def _start(self, work: Any, name: str) -> None:
        # A plain asyncio task: this may run in a loop callback (a frame handed over from the
        # comm thread), where an anyio task group cannot start tasks.
        assert self._loop is not None
        task = self._loop.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _speech_started(self) -> None:
        self._mark("speech_onset")
        self.listener.phase("speaking")
        if self._loop is not None and not self._watching:
            self._watching = True
            self._start(self._watch_microphone(), "microphone watchdog")
        if self._barge is not None:
            return  # a second sound before the first was judged: judged together
        if not (self.output.playing or self.agent.state in (State.GENERATING, State.EMITTING)):
            self.agent.post(ev.UserStartedSpeaking())
            return
        policy = self.agent.answer_policy
        self._barge = _BargeIn(policy, paused=policy.interruptible)
        if policy.interruptible:
            self.barge_ins += 1
            self.output.pause()  # silent at once; cut or resumed once the sound is judged
            self._mark("barge_in")

    def _speech_paused(self, event: SpeechPaused) -> None:
        if self._loop is None or not self.early_recognition:
            return
        if self._early is not None:
            return
        early = _Early(event.audio)
        self._start(self._transcribe_early(early), "early speech recognition")
        self._early = early

    async def _watch_microphone(self) -> None:
        """While an utterance is open, end it if no frame has come for ``mic_gap`` seconds:
        the VAD counts frames, and frames that never come would leave the user's words unheard
        and a paused answer paused for good."""
        clock = self.agent.clock
        try:
            while self.vad.speaking:
                due = self._last_frame_at + self.mic_gap
                if clock.now() < due:
                    await clock.sleep(due - clock.now())
                    continue
                log.warning(
                    "voice: no microphone frame for %g s mid-utterance; ending it there", self.mic_gap
                )
                self._mark("microphone_stopped")
                self.listener.status(
                    f"the microphone sent nothing for {self.mic_gap:g} s: the utterance ended there"
                )
                ended = self.vad.end_here()
                if ended is not None:
                    self._on_vad(ended)
        finally:
            self._watching = False

    def _ask_turn_detector(self, pause: _Pause) -> None:
        pause.asked_at = self.vad.silent_frames
        pause.verdict = None
        self._start(self._judge_turn(pause, self.vad.audio_so_far()), "end-of-turn detection")

    async def _judge_turn(self, pause: _Pause, audio: bytes) -> None:
        """Ask whether the user is done; the verdict is acted on by :meth:`_decide_turn`."""
        assert self.turn_detector is not None
        loop = asyncio.get_running_loop()
        try:
            with self.agent.clock.holding():
                p = await loop.run_in_executor(self._turns, self.turn_detector.complete, audio)
        except Exception as exc:  # without a verdict, the silence so far ends the turn
            log.warning("end-of-turn detection failed: %s", exc)
            p = 1.0
        else:
            self.turn_verdicts.append(p)
        if self._pause is not pause:
            return  # the user went on speaking meanwhile
        pause.verdict = p
        self._mark("turn_verdict")
        self._decide_turn()

    def _decide_turn(self) -> None:
        """Once the pause has lasted ``turn_check_frames`` and the verdict is in: done (end the
        utterance now), or mid-sentence (leave it open, up to the VAD's longer hangover; asked
        once more if the verdict came from an earlier, shorter pause)."""
        pause = self._pause
        if pause is None or pause.verdict is None or self.vad.silent_frames < self.turn_check_frames:
            return
        if pause.verdict >= self.turn_threshold:
            self._mark("turn_complete")
            ended = self.vad.end_now()
            if ended is not None:
                self._on_vad(ended)
        elif pause.asked_at < self.turn_check_frames:
            self._ask_turn_detector(pause)

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
            self._mark("early_transcript")
        except Exception as exc:
            early.error = exc
        finally:
            early.done.set()
        self._maybe_speculate()

    def _maybe_speculate(self) -> None:
        """Start the model on the early transcript, if it is known, the user is still pausing
        (long enough not to be a breath) and this is a turn of their own, not a barge-in."""
        early = self._early
        if (
            not self.speculating
            or early is None
            or early.speculated
            or not early.done.is_set()
            or early.error is not None
            or self._barge is not None
            or self.vad.silent_frames < self.speculate_frames
        ):
            return
        early.speculated = True
        if spoken_words(early.text or "") and self.agent.speculate(
            early.text or "", "voice", on_text=self._prepare_speech()
        ):
            self._mark("speculation")

    @property
    def speculating(self) -> bool:
        """Whether the model starts on the words heard at a pause (see ``speculate``)."""
        if self.speculate is None:
            return not isinstance(self.agent.backend, ScriptedBackend)
        return self.speculate

    def _prepare_speech(self) -> Callable[[str, bool], None]:
        """For a speculative answer: synthesise its first piece as soon as it is written, so that
        once the turn is confirmed its audio is ready (nothing is played before)."""
        prepared = False

        def on_text(answer: str, finished: bool) -> None:
            nonlocal prepared
            piece = None if prepared else self.output.first_piece(answer, finished)
            if piece is not None:
                prepared = True
                self._start(self.output.prepare(piece), "speech prepared ahead")

        return on_text

    def _speech_ended(self, event: SpeechEnded) -> None:
        self._mark("speech_end")
        self._pause = None
        self.listener.phase("transcribing")
        early, self._early = self._early, None
        barge = self._barge
        if barge is not None:
            voiced = self.fmt.seconds(event.voiced_frames)
            if voiced < barge.policy.min_seconds:
                self.listener.phase("quiet")
                self._judge_barge_in(barge, "", f"{voiced:.2f} s of sound")
                return  # too short to hold words
            if self._loop is not None:
                self._start(self._resume_unless_judged(barge), "false interruption deadline")
        try:
            self._send.send_nowait(
                _Utterance(early if early is not None and early.wanted else event.audio, barge)
            )
        except anyio.WouldBlock:
            log.warning("speech recognition is %d utterances behind; dropping the newest", 16)

    async def _resume_unless_judged(self, barge: _BargeIn) -> None:
        await self.agent.clock.sleep(barge.policy.resume_after)
        if self._barge is barge:
            self._judge_barge_in(barge, "", "no words in time")

    def _judge_barge_in(self, barge: _BargeIn, text: str, why: str) -> bool:
        """Decide a barge-in on what was said; True if ``text`` is now the user's turn
        (posted here), False if it is to be ignored."""
        if self._barge is not barge:
            return False
        self._barge = None
        words = spoken_words(text)
        if len(words) >= barge.policy.min_words and text.strip():
            if barge.paused:  # words: the answer is cut off where the user stopped hearing it
                self.agent.post(ev.Interrupt("the user started speaking", source="speech"))
            else:
                self.deferred_interruptions += 1
                self.agent.note_interruption(
                    "the user spoke during an answer that may not be cut off; they are answered after it",
                    "deferred",
                )
            self.agent.post(ev.UserMessage(text, "voice"))
            return True
        if barge.paused:
            self.false_interruptions += 1
            heard = f"“{text.strip()}”: no words" if text.strip() else why
            where = self.output.next_word()
            went_on = f"resumed from “{where.strip()}”" if where else "went on"
            note = f"false interruption ({heard}): the answer {went_on}"
            self.agent.note_interruption(note, "false")
            self.listener.status(note)
            self._start(self.output.resume(), "resume after a false interruption")
        return False

    def _on_update(self, update: Update) -> None:
        # Cut off by anything (typed message, button, %interrupt): the speaker must stop too.
        if (
            isinstance(update, EntryAdded)
            and update.entry.kind == "interruption"
            and update.entry.status not in ("false", "deferred")
            and self.output.playing
        ):
            self._barge = None
            self.output.stop()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Transcribe utterances as they end; run this on the agent's loop for as long as voice is on."""
        self._loop = asyncio.get_running_loop()
        async with self._receive:
            task_status.started()
            async for item in self._receive:
                await self._transcribe(item)

    async def _transcribe(self, item: _Utterance) -> None:
        audio = item.audio
        try:
            if isinstance(audio, _Early):
                await audio.done.wait()
                self.early_hits += 1
                if audio.error is not None:
                    raise audio.error
                text = audio.text or ""
            else:
                text = await self._recognise(audio)
        except Exception as exc:
            log.warning("speech recognition failed: %s", exc)
            self.listener.status(f"speech recognition failed: {exc}")
            self.listener.phase("quiet")
            if item.barge is not None:
                self._judge_barge_in(item.barge, "", "not recognised")
            return
        self._mark("transcript")
        self.listener.phase("speaking" if self.vad.speaking else "quiet")
        if item.barge is not None and self._barge is item.barge:
            if self._judge_barge_in(item.barge, text, "no words"):
                self.listener.transcript(text)
            elif text.strip():
                self.listener.status(f"(not an interruption: “{text.strip()}”)")
            return
        if not text.strip():
            self.listener.status("(no words recognised)")
            return
        self.listener.transcript(text)
        self.agent.post(ev.UserMessage(text, "voice"))

    def close(self) -> None:
        self.agent.drop_speculation()
        self._unsubscribe()
        self.output.stop()
        self.vad.reset()
        self._send.close()
        for task in self._tasks:
            task.cancel()
        self._stt.shutdown(wait=False, cancel_futures=True)
        self._turns.shutdown(wait=False, cancel_futures=True)
