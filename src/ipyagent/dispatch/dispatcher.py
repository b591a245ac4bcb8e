"""The dispatcher: runs one agent's generations, and never waits on them.

It renders the context, streams the model in a task of its own, hands text to the output channel,
and starts each requested tool through the agent's :class:`~.tasks.TaskRunner`. Everything that
happens later comes back to the agent as an event on its queue: text deltas, the end of a
generation, the end of delivery, and one notification per task (from the runner).

A generation may also start *speculatively* (:meth:`Dispatcher.speculate`), on a user turn that
is not confirmed yet (what a speaker has said at their first pause). Its output is held back:
nothing is delivered, no tool starts, nothing reaches the ledger. If the same turn is then
confirmed with nothing else new in the ledger, the next generation adopts it and takes up the
model's output from where it has got to; otherwise it is cancelled and forgotten.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import events as ev
from ..clock import Clock
from ..errors import IpyagentError, ToolCallError
from ..ledger.entry import Entry
from ..ledger.render.context import Context, ToolSpec
from .backends.base import Backend, Chunk, StatusChunk, TextChunk, ToolCallChunk, UsageChunk
from .limits import ModelCallLimit
from .output import InterruptionPolicy, OutputChannel, finish_output
from .tasks import BackgroundTask, TaskRunner, error_text
from .tools import BaseTool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Launch:
    """What became of one tool call: a started task, or the reason it could not start."""

    call: ev.ToolCallRequest
    task: BackgroundTask | None = None
    error: str | None = None

    @property
    def answer(self) -> str:
        """The call's immediate result, as the model will read it."""
        if self.task is None:
            return f"rejected: {self.error}"
        return (
            f"started as task {self.task.task_id}; it runs in the background and its result "
            "will arrive as a notification"
        )


@dataclass(eq=False)
class Generation:
    """One model generation and the delivery of its text.

    Invariant: ``delivered`` is a prefix of ``text``; both only grow.
    """

    id: int
    outbox: MemoryObjectSendStream[str]
    inbox: MemoryObjectReceiveStream[str]
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    emit_scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    text: str = ""
    delivered: str = ""
    usage: ev.Usage | None = None
    launches: list[Launch] = field(default_factory=list)
    finished: bool = False
    # Who may cut this answer off, if not the agent's own policy (an answer given by ``say``).
    policy: InterruptionPolicy | None = None
    # The speculative generation this one took over, if any (its model call is still ours).
    speculation: Speculation | None = None


@dataclass(eq=False)
class Speculation:
    """The model started on a user turn that is not confirmed yet; its output waits in
    ``receive`` (nothing is delivered or launched) until a generation adopts it.

    ``length``, ``last`` and ``tools`` describe the ledger and the tools it started on: it is
    adopted only by a generation on that very ledger plus the user entry ``text``.
    """

    text: str
    source: str | None
    length: int
    last: Entry | None
    tools: tuple[str, ...]
    send: MemoryObjectSendStream[Chunk]
    receive: MemoryObjectReceiveStream[Chunk]
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    error: Exception | None = None
    answer: str = ""  # the text the model has written so far
    # Told the answer so far each time it grows, and whether the model has finished it (to
    # prepare its speech; nothing is said).
    on_text: Callable[[str, bool], None] | None = None

    def fits(self, entries: Sequence[Entry], tools: tuple[str, ...]) -> bool:
        """Whether ``entries`` are the ledger it started on plus its user turn, and nothing else."""
        if len(entries) != self.length + 1 or tools != self.tools:
            return False
        turn = entries[-1]
        if turn.kind != "user" or turn.text != self.text or turn.source != self.source:
            return False
        return self.length == 0 or entries[self.length - 1] is self.last


def failure_text(exc: Exception) -> str:
    """One line for a failed generation: our own errors already say what happened and what to
    do, so their class name is noise; anything else keeps it."""
    if isinstance(exc, IpyagentError) and str(exc).strip():
        return " ".join(str(exc).split())
    return error_text(exc)


class Dispatcher:
    """One agent's generations, and the launching of the tool calls they make. Runs entirely on
    the agent's event loop; the tasks themselves belong to the :class:`~.tasks.TaskRunner`."""

    def __init__(
        self,
        *,
        agent_name: str,
        backend: Backend,
        clock: Clock,
        output: OutputChannel,
        runner: TaskRunner,
        post: Callable[[ev.Event], None],
        on_delivered: Callable[[int, str], None],
        on_status: Callable[[str], None] = lambda _: None,
        model_calls: ModelCallLimit | None = None,
    ) -> None:
        self.agent_name = agent_name
        self.backend = backend
        # Shared by an agent and its sub-agents: how many of their generations may stream at once.
        self.model_calls = model_calls or ModelCallLimit()
        self.clock = clock
        self.output = output
        self.runner = runner
        self._post = post
        self._on_delivered = on_delivered
        self._on_status = on_status
        self.tools: dict[str, BaseTool] = {}
        # Called before each generation (MCP servers start on first use); True when the tools
        # offered changed, so the context lists them afresh.
        self.prepare_tools: Callable[[], Awaitable[bool]] | None = None
        # Every call id used so far: providers require them unique within a conversation.
        self._call_ids: set[str] = set()
        self.current: Generation | None = None
        self._generation_ids = itertools.count(1)
        self._tg: anyio.abc.TaskGroup | None = None
        # Internal tasks (generation, delivery) currently alive, by name; for "nothing orphaned".
        self.internal: set[str] = set()
        # Invariant: the one speculative generation not yet adopted or discarded, else None.
        self.speculation: Speculation | None = None
        self.speculations = {"started": 0, "adopted": 0, "discarded": 0}

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg

    def continue_after(self, entries: Iterable[Entry]) -> None:
        """Number generations on after the ones in ``entries`` (a resumed ledger's), and never
        reuse its call ids: in one conversation each id names one thing."""
        generations = 0
        for entry in entries:
            if entry.generation is not None:
                generations = max(generations, entry.generation)
            if entry.call_id:
                self._call_ids.add(entry.call_id)
        self._generation_ids = itertools.count(generations + 1)

    @property
    def task_group(self) -> anyio.abc.TaskGroup:
        if self._tg is None:
            raise RuntimeError("the dispatcher is not running")
        return self._tg

    # --- tools --------------------------------------------------------------------------------

    def add_tool(self, tool: BaseTool) -> None:
        self.tools[tool.name] = tool

    def tool_specs(self) -> list[ToolSpec]:
        return [t.spec for t in self.tools.values()]

    # --- generations --------------------------------------------------------------------------

    def start_generation(
        self,
        entries: Iterable[Entry],
        cache_point: int | None,
        *,
        say: str | None = None,
        policy: InterruptionPolicy | None = None,
    ) -> Generation:
        """Render the context now and start the model and the delivery in the background.
        With ``say``, that text is the answer and the model is not asked."""
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        gen = Generation(next(self._generation_ids), send, receive, policy=policy)
        entries = list(entries)
        context = Context(
            entries=entries,
            tools=self.tool_specs(),
            now=self.clock.wall(),
            pending=self.runner.pending(),
            cache_point=cache_point,
        )
        self.current = gen
        spec, self.speculation = self.speculation, None
        if say is not None:
            if spec is not None:
                self._discard(spec)
            self._post(ev.TextDelta(gen.id, say))
            self._post(ev.GenerationFinished(gen.id, say, (), ev.Usage()))
            self.task_group.start_soon(self._deliver, gen, name=f"delivery {gen.id}")
            return gen
        if spec is not None and spec.fits(entries, self._tool_names()):
            gen.speculation = spec
            self.speculations["adopted"] += 1
        elif spec is not None:
            self._discard(spec)
        self.task_group.start_soon(self._generate, gen, context, name=f"generation {gen.id}")
        self.task_group.start_soon(self._deliver, gen, name=f"delivery {gen.id}")
        return gen

    async def _generate(self, gen: Generation, context: Context) -> None:
        name = f"generation {gen.id}"
        self.internal.add(name)
        text: list[str] = []
        calls: list[ev.ToolCallRequest] = []
        usage = ev.Usage()
        try:
            with gen.scope:
                try:
                    spec = gen.speculation
                    if spec is not None:  # the model is already on it: take up its output
                        async with spec.receive:
                            async for chunk in spec.receive:
                                self._take(gen, chunk, text, calls)
                                if isinstance(chunk, UsageChunk):
                                    usage = chunk.usage
                        if spec.error is not None:
                            raise spec.error
                        self._post(ev.GenerationFinished(gen.id, "".join(text), tuple(calls), usage))
                        return
                    if self.prepare_tools is not None and await self.prepare_tools():
                        context = dataclasses.replace(context, tools=self.tool_specs())
                    waited = False

                    def wait_note(in_flight: int) -> None:
                        nonlocal waited
                        waited = True
                        self._on_status(
                            f"waiting for the model: {in_flight} calls of this agent and its "
                            f"sub-agents are running, at most {self.model_calls.limit} at once"
                        )

                    async with self.model_calls.slot(wait_note):
                        if waited:
                            self._on_status("")
                        async for chunk in self.backend.stream(context, agent=self.agent_name):
                            self._take(gen, chunk, text, calls)
                            if isinstance(chunk, UsageChunk):
                                usage = chunk.usage
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:  # any backend failure becomes a notification
                    log.debug("generation %s failed", gen.id, exc_info=True)
                    self._post(ev.ModelFailed(f"the model failed: {failure_text(exc)}", generation=gen.id))
                    return
                self._post(ev.GenerationFinished(gen.id, "".join(text), tuple(calls), usage))
        finally:
            self.internal.discard(name)

    def _take(self, gen: Generation, chunk: Chunk, text: list[str], calls: list[ev.ToolCallRequest]) -> None:
        """Hand one piece of the model's output on to the agent."""
        if isinstance(chunk, TextChunk):
            if chunk.text:
                text.append(chunk.text)
                self._post(ev.TextDelta(gen.id, chunk.text))
        elif isinstance(chunk, ToolCallChunk):
            calls.append(chunk.call)
            self._post(ev.ToolCallDecoded(gen.id, chunk.call))
        elif isinstance(chunk, StatusChunk):
            self._on_status(chunk.text)

    # --- speculative generations --------------------------------------------------------------

    def _tool_names(self) -> tuple[str, ...]:
        return tuple(self.tools)

    def speculate(
        self,
        entries: Iterable[Entry],
        turn: Entry,
        cache_point: int | None,
        on_text: Callable[[str, bool], None] | None = None,
    ) -> Speculation | None:
        """Start the model on ``entries`` plus the unconfirmed user entry ``turn``, holding its
        output back. It replaces any earlier speculation, unless that one started on the same
        ledger and turn (then it is returned as it is). None when every model call slot is taken:
        a guess never makes a confirmed generation wait."""
        entries = list(entries)
        tools = self._tool_names()
        old = self.speculation
        if old is not None and old.fits([*entries, turn], tools):
            return old
        self.discard_speculation()
        calls = self.model_calls
        if calls.limit is not None and calls.active + calls.waiting >= calls.limit:
            return None
        send, receive = anyio.create_memory_object_stream[Chunk](math.inf)
        last = entries[-1] if entries else None
        spec = Speculation(turn.text, turn.source, len(entries), last, tools, send, receive, on_text=on_text)
        context = Context(
            entries=[*entries, turn],
            tools=self.tool_specs(),
            now=self.clock.wall(),
            pending=self.runner.pending(),
            cache_point=cache_point,
        )
        self.speculation = spec
        self.speculations["started"] += 1
        self.task_group.start_soon(self._speculate, spec, context, name="speculative generation")
        return spec

    def discard_speculation(self) -> bool:
        """Cancel the speculation not yet adopted, if any; True if there was one."""
        spec, self.speculation = self.speculation, None
        if spec is None:
            return False
        self._discard(spec)
        return True

    def _discard(self, spec: Speculation) -> None:
        spec.scope.cancel(reason="the speculation was not used")
        spec.receive.close()
        self.speculations["discarded"] += 1

    async def _speculate(self, spec: Speculation, context: Context) -> None:
        name = "speculative generation"
        self.internal.add(name)
        try:
            with spec.scope:
                try:
                    if self.prepare_tools is not None and await self.prepare_tools():
                        context = dataclasses.replace(context, tools=self.tool_specs())
                    async with self.model_calls.slot():
                        async for chunk in self.backend.stream(context, agent=self.agent_name):
                            spec.send.send_nowait(chunk)
                            if isinstance(chunk, TextChunk) and chunk.text:
                                spec.answer += chunk.text
                                if spec.on_text is not None:
                                    spec.on_text(spec.answer, False)
                    if spec.on_text is not None:
                        spec.on_text(spec.answer, True)
                except anyio.get_cancelled_exc_class():
                    raise
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass  # discarded while the model was still going
                except Exception as exc:  # told to the generation that adopts it, if one does
                    spec.error = exc
        finally:
            spec.send.close()
            self.internal.discard(name)

    async def _deliver(self, gen: Generation) -> None:
        name = f"delivery {gen.id}"
        self.internal.add(name)

        def progress(part: str) -> None:
            gen.delivered += part
            self._on_delivered(gen.id, part)

        try:
            with gen.emit_scope:
                async with gen.inbox:
                    async for piece in gen.inbox:
                        await self.output.deliver(piece, progress)
                await finish_output(self.output, progress)
                self._post(ev.EmissionFinished(gen.id))
        finally:
            self.internal.discard(name)

    def emit(self, delta: ev.TextDelta) -> None:
        gen = self.current
        if gen is not None and gen.id == delta.generation:
            gen.text += delta.text
            gen.outbox.send_nowait(delta.text)

    def start_call(self, decoded: ev.ToolCallDecoded) -> Launch | None:
        """Start a tool call of the current generation now that its arguments are complete
        (the model may still be writing); ``None`` if that generation is no longer current."""
        gen = self.current
        if gen is None or gen.id != decoded.generation or gen.finished:
            return None
        call = decoded.call
        call_id = call.call_id
        if not call_id or call_id in self._call_ids:
            call_id = f"call_{gen.id}_{len(gen.launches) + 1}"
        self._call_ids.add(call_id)
        launch = self.launch(ev.ToolCallRequest(call.name, call.arguments, call_id))
        gen.launches.append(launch)
        return launch

    def finish_generation(self, done: ev.GenerationFinished) -> Generation | None:
        """The model is done (its calls have started already): let delivery run out."""
        gen = self.current
        if gen is None or gen.id != done.generation:
            return None
        gen.finished = True
        gen.usage = done.usage
        gen.outbox.close()
        return gen

    def end_generation(self) -> Generation | None:
        """Forget the current generation (it was delivered in full)."""
        gen, self.current = self.current, None
        return gen

    def cut(self, reason: str) -> Generation | None:
        """Stop the current generation and its delivery at once; returns it (with what was
        delivered) or ``None`` if nothing was in flight."""
        gen, self.current = self.current, None
        if gen is None:
            return None
        if gen.speculation is not None:
            gen.speculation.scope.cancel(reason=reason)
        gen.scope.cancel(reason=reason)
        gen.emit_scope.cancel(reason=reason)
        gen.outbox.close()
        return gen

    # --- tool calls -------------------------------------------------------------------------

    def launch(self, call: ev.ToolCallRequest) -> Launch:
        """Validate a tool call and start it in the background. Never raises for bad calls."""
        tool = self.tools.get(call.name)
        try:
            if tool is None:
                available = ", ".join(sorted(self.tools)) or "none"
                raise ToolCallError(call.name, f"unknown tool {call.name!r}; available: {available}")
            arguments = tool.validate(call.arguments)
            task = tool.start(self.runner, arguments, call.call_id)
        except ToolCallError as exc:
            return Launch(call, error=exc.reason)
        return Launch(call, task=task)
