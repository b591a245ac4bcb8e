"""The speaking side: :class:`VoiceOutput` is the agent's output channel for speech.

Text arrives as the model streams it; each sentence is synthesised (in a worker thread) as soon as
it is complete and sent to the speaker while the next one is still being generated. The speaker (the
browser) reports how much of each chunk it has played; a word counts as heard only once the audio
up to its end has played, and only heard words are reported as progress, so when the user barges
in, the ledger keeps exactly what was heard.

Word ends inside a chunk are estimated from letter counts across the voiced part of the audio
(leading and trailing silence trimmed): a word is reported after its estimated end has played.

When the user starts to speak over the answer, the speaker is *paused* (:meth:`VoiceOutput.pause`):
it falls silent at once, but the unheard rest is kept. If the user's sound proves to be words the
answer is cut as usual; if not (a cough, an "uh", a door), :meth:`VoiceOutput.resume` plays on from
the first word the user did not hear, so every word is heard exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import numpy as np

from ..clock import Clock, TimedOut, run_with_timeout
from ..dispatch.output import Progress
from .frames import Int16Array
from .sentences import SentenceChunker, split_words
from .tts import Synthesizer

log = logging.getLogger(__name__)
Mark = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One synthesised sentence on its way to the speaker."""

    id: int
    text: str
    samples: Int16Array
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class Speaker(Protocol):
    """Where audio goes (the browser, through the voice widget). Reports come back through
    :meth:`VoiceOutput.on_playback` on the agent's loop."""

    @property
    def connected(self) -> bool: ...

    def play(self, chunk: AudioChunk) -> None:
        """Queue ``chunk`` after what is already playing; returns at once."""
        ...

    def stop(self) -> None:
        """Stop playback now and drop everything queued."""
        ...


# Silence kept before the first sound of each synthesised piece.
LEAD_IN = 0.01
# The first piece of an answer ends at its first comma once it has this many words: it is
# synthesised (and heard) sooner than the whole first sentence. What the voice widget uses.
FIRST_CLAUSE_WORDS = 4
# Below this (PCM16, about -50 dBFS) a sample is silence, even for a soft consonant's onset.
SILENT = 100


def trim_lead_in(samples: Int16Array, rate: int, keep: float) -> Int16Array:
    """``samples`` without the silence before its first sound beyond ``keep`` seconds."""
    sound = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENT)
    if not len(sound):
        return samples
    return samples[max(0, int(sound[0]) - round(keep * rate)) :]


def word_ends(text: str, samples: Int16Array, threshold: int = 500) -> list[tuple[str, int]]:
    """Each word of ``text`` (with its spaces) and the sample index where its audio ends."""
    words = split_words(text)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    first, last = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(samples))
    weights = [max(1, len(w.strip())) if w.strip() else 0 for w in words]
    total = sum(weights) or 1
    ends, acc = [], 0
    for word, weight in zip(words, weights, strict=True):
        acc += weight
        ends.append((word, first + round((last - first) * acc / total)))
    return ends


@dataclass(eq=False)
class _Playing:
    chunk: AudioChunk
    words: list[tuple[str, int]]
    progress: Progress
    reported: int = 0  # words reported so far
    played: int = 0
    first: bool = False  # the first chunk of its answer (its first report marks "played")


@dataclass(eq=False)
class _Turn:
    """What belongs to one generation's speech."""

    progress: Progress
    chunker: SentenceChunker = field(default_factory=SentenceChunker)
    sentences: int = 0


class VoiceOutput:
    """An :class:`~ipyagent.dispatch.output.OutputChannel` that speaks.

    Invariant: ``_queue`` holds the chunks sent to the speaker (or, while paused, due to be sent)
    and not yet reported done, in play order; ``_turn`` is the generation being spoken (``None``
    after a stop). While ``paused`` nothing is sent to the speaker.
    """

    def __init__(
        self,
        synthesizer: Synthesizer,
        speaker: Speaker,
        clock: Clock,
        *,
        mark: Mark | None = None,
        stall_seconds: float = 10.0,
        first_clause_words: int = 0,
        lead_in: float | None = LEAD_IN,
    ) -> None:
        self.synthesizer = synthesizer
        self.speaker = speaker
        self.clock = clock
        self.mark: Mark = mark or (lambda _: None)
        self.stall_seconds = stall_seconds
        # Speak the first clause of an answer as soon as it has this many words (0: wait for
        # the first sentence).
        self.first_clause_words = first_clause_words
        # Seconds of silence kept before a piece's first sound (None: as synthesised; piper
        # starts with 30-65 ms of it, heard as that much more wait before the answer).
        self.lead_in = lead_in
        self._ids = itertools.count(1)
        self._queue: list[_Playing] = []
        self._turn: _Turn | None = None
        # A plain asyncio event: set from loop callbacks (speaker reports), where anyio cannot
        # tell which async library is running.
        self._changed = asyncio.Event()
        self.last_chunk: AudioChunk | None = None
        self.paused = False
        self.resumes = 0
        # Speech synthesised ahead of time (the first piece of a speculative answer), by its
        # text: used if that piece is the next to be said, else forgotten at the next prepare.
        self._prepared: dict[str, asyncio.Future[Int16Array]] = {}
        self.prepared_hits = 0

    @property
    def playing(self) -> bool:
        """Audio was sent and has not all been played (or stopped)."""
        return bool(self._queue)

    # --- the OutputChannel protocol -----------------------------------------------------------

    async def deliver(self, text: str, progress: Progress) -> None:
        turn = self._turn_for(progress)
        try:
            for sentence in turn.chunker.feed(text):
                await self._speak(turn, sentence)
        except BaseException:
            self.stop()
            raise

    async def finish(self, progress: Progress) -> None:
        turn = self._turn_for(progress)
        try:
            rest = turn.chunker.flush()
            if rest.strip():
                await self._speak(turn, rest)
            elif rest:
                progress(rest)
            await self._drain(turn)
        except BaseException:
            self.stop()
            raise
        finally:
            if self._turn is turn:
                self._turn = None

    # --- speaking -----------------------------------------------------------------------------

    def first_piece(self, text: str, finished: bool = False) -> str | None:
        """The first piece that would be spoken of an answer beginning with ``text`` (the whole
        answer if ``finished``), once it is complete (None before)."""
        chunker = SentenceChunker(first_clause_words=self.first_clause_words)
        pieces = chunker.feed(text)
        if not pieces and finished:
            pieces = [chunker.flush()]
        return pieces[0].strip() or None if pieces else None

    async def prepare(self, piece: str) -> None:
        """Synthesise ``piece`` now without sending it anywhere (nothing is heard): when it is
        next said, its audio is ready. Forgets what was prepared before."""
        piece = piece.strip()
        if not piece or piece in self._prepared:
            return
        future: asyncio.Future[Int16Array] = asyncio.get_running_loop().create_future()
        self._prepared = {piece: future}
        try:
            with self.clock.holding():
                future.set_result(await anyio.to_thread.run_sync(self._voice, piece))
            self.mark("prepared")
        except BaseException:
            future.cancel()  # whoever waits for it synthesises the piece itself
            self._prepared.pop(piece, None)
            raise

    def _voice(self, text: str) -> Int16Array:
        """``text`` synthesised (in a worker thread), its lead-in silence cut to ``lead_in``."""
        samples = self.synthesizer.synthesize(text)
        if self.lead_in is None:
            return samples
        return trim_lead_in(samples, self.synthesizer.sample_rate, self.lead_in)

    def forget_prepared(self) -> None:
        """Drop speech prepared ahead (the answer it was for was discarded)."""
        self._prepared = {}

    async def _synthesize(self, sentence: str) -> Int16Array:
        ready = self._prepared.pop(sentence.strip(), None)
        if ready is not None:
            try:
                samples = await asyncio.shield(ready)
            except asyncio.CancelledError:
                if not ready.cancelled():
                    raise  # this delivery was stopped, not the preparation
            else:
                self.prepared_hits += 1
                return samples
        with self.clock.holding():
            return await anyio.to_thread.run_sync(self._voice, sentence.strip())

    def _turn_for(self, progress: Progress) -> _Turn:
        if self._turn is None or self._turn.progress is not progress:
            self._turn = _Turn(progress, SentenceChunker(first_clause_words=self.first_clause_words))
        return self._turn

    async def _speak(self, turn: _Turn, sentence: str) -> None:
        if turn.sentences == 0:
            self.mark("first_sentence")
        if not self.speaker.connected:  # nobody can hear it: it is delivered as text
            turn.progress(sentence)
            turn.sentences += 1
            return
        samples = await self._synthesize(sentence)
        if self._turn is not turn:  # stopped while synthesising
            return
        if turn.sentences == 0:
            self.mark("tts_first_chunk")
        turn.sentences += 1
        chunk = AudioChunk(next(self._ids), sentence, samples, self.synthesizer.sample_rate)
        playing = _Playing(chunk, word_ends(sentence, samples), turn.progress, first=turn.sentences == 1)
        self._queue.append(playing)
        self.last_chunk = chunk
        if not self.paused:
            self.speaker.play(chunk)
            if turn.sentences == 1:
                self.mark("audio_out")

    async def _drain(self, turn: _Turn) -> None:
        """Wait until every chunk of ``turn`` has played; give up if the speaker goes silent."""
        while any(p.progress is turn.progress for p in self._queue):
            if self.paused:  # the user has the floor; the pipeline resumes or cuts
                await self._changed.wait()
                continue
            try:
                await run_with_timeout(self.clock, self.stall_seconds, self._changed.wait)
            except TimedOut:
                log.warning("the speaker reported no playback for %g s; giving up on it", self.stall_seconds)
                self._queue = [p for p in self._queue if p.progress is not turn.progress]
                return

    def on_playback(self, chunk_id: int, played_samples: int, done: bool) -> None:
        """The speaker's report: ``played_samples`` of chunk ``chunk_id`` have played."""
        playing = next((p for p in self._queue if p.chunk.id == chunk_id), None)
        if playing is None:
            return  # stopped, or a stale report
        if self.paused:
            # A report sent just before the pause is still true about what was heard; the end
            # of a chunk is not, for the speaker dropped it.
            done = False
        if playing.first and playing.played == 0 and played_samples > 0:
            self.mark("played")  # the answer's first audio is playing
        playing.played = max(playing.played, int(played_samples))
        while playing.reported < len(playing.words):
            word, end = playing.words[playing.reported]
            if not done and end > playing.played:
                break
            playing.reported += 1
            playing.progress(word)
        if done:
            self._queue.remove(playing)
        self._wake()

    def stop(self) -> None:
        """Stop speaking at once: the speaker drops its audio, later reports are ignored."""
        self._turn = None
        was_paused, self.paused = self.paused, False
        if self._queue:
            self._queue = []
            if not was_paused:  # a paused speaker is silent already
                self.speaker.stop()
                self.mark("stop_sent")
        self._wake()

    def next_word(self) -> str | None:
        """The first word of the answer the user has not heard yet (None if none is queued)."""
        for playing in self._queue:
            for word, _ in playing.words[playing.reported :]:
                if word.strip():
                    return word
        return None

    def pause(self) -> None:
        """Fall silent now but keep what was not heard, for :meth:`resume` (or :meth:`stop`)."""
        if self.paused:
            return
        self.paused = True
        if self._queue:
            self.speaker.stop()
            self.mark("stop_sent")
        self._wake()

    async def resume(self) -> None:
        """Play on from the first word not yet heard: the sentence that was cut is synthesised
        again from that word; the sentences after it are sent as they were."""
        if not self.paused:
            return
        if self._queue:
            first = self._queue[0]
            rest = "".join(word for word, _ in first.words[first.reported :])
            if rest.strip():
                with self.clock.holding():
                    samples = await anyio.to_thread.run_sync(self._voice, rest.strip())
                if not self.paused or not self._queue or self._queue[0] is not first:
                    return  # stopped (or resumed) meanwhile
                chunk = AudioChunk(next(self._ids), rest, samples, self.synthesizer.sample_rate)
                self._queue[0] = _Playing(chunk, word_ends(rest, samples), first.progress)
            else:  # every word of it was heard: only its trailing silence was left
                self._queue.pop(0)
                if first.reported < len(first.words):
                    for word, _ in first.words[first.reported :]:
                        first.progress(word)
        self.paused = False
        self.resumes += 1
        for playing in self._queue:
            self.speaker.play(playing.chunk)
        self.mark("resumed")
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class ClockSpeaker:
    """A speaker that plays in time on a :class:`~ipyagent.clock.Clock` and reports progress
    every ``report_ms``: the browser's stand-in for tests (virtual clock) and benchmarks."""

    def __init__(self, clock: Clock, report_ms: int = 50) -> None:
        self.clock = clock
        self.report_seconds = report_ms / 1000
        self.output: VoiceOutput | None = None
        self.connected = True
        self.played: list[tuple[int, float]] = []  # (chunk id, seconds actually played)
        self.spans: list[tuple[float, float]] = []  # (start, end) clock times of sound played
        self.starts: list[tuple[AudioChunk, float]] = []  # each chunk and when it began to play
        self.stops = 0
        self.stopped_at: float | None = None  # clock time of the latest stop
        self._pending: list[AudioChunk] = []
        self._wakeup = anyio.Event()
        self._stop_scope: anyio.CancelScope | None = None

    def play(self, chunk: AudioChunk) -> None:
        self._pending.append(chunk)
        self._wakeup.set()

    def stop(self) -> None:
        self.stops += 1
        self.stopped_at = self.clock.now()
        self._pending.clear()
        if self._stop_scope is not None:
            self._stop_scope.cancel(reason="stopped")

    async def run(self) -> None:
        """Play forever (run it in a task group)."""
        while True:
            if not self._pending:
                self._wakeup = anyio.Event()
                await self._wakeup.wait()
                continue
            chunk = self._pending.pop(0)
            rate = chunk.sample_rate
            played = 0.0
            started = self.clock.now()
            self.starts.append((chunk, started))
            with anyio.CancelScope() as scope:
                self._stop_scope = scope
                while played < chunk.seconds:
                    step = min(self.report_seconds, chunk.seconds - played)
                    await self.clock.sleep(step)
                    played += step
                    if played < chunk.seconds and self.output is not None:
                        self.output.on_playback(chunk.id, round(played * rate), False)
            self._stop_scope = None
            self.played.append((chunk.id, played))
            self.spans.append((started, self.clock.now()))
            if not scope.cancelled_caught and self.output is not None:
                self.output.on_playback(chunk.id, len(chunk.samples), True)
