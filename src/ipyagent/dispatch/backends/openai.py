"""``openai:MODEL`` and ``openai:MODEL@BASE_URL``: the official OpenAI SDK, streaming.

Works with any OpenAI-compatible server (vLLM, llama.cpp server, Ollama) through its base URL.
The key comes from ``OPENAI_API_KEY``; a server given by URL may need none. Transient failures
(429, 5xx, dropped connections) are retried by the SDK with backoff; what still fails becomes a
one-line :class:`ModelError` with any key removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ...events import ToolCallRequest, Usage
from ...ledger.render import render_openai
from ...ledger.render.context import Context
from .base import Chunk, TextChunk, ToolCallChunk, UsageChunk
from .sdk import Connection, SdkBackend

if TYPE_CHECKING:
    from typing_extensions import Unpack

KEY_ENV = "OPENAI_API_KEY"
USER_ENV = "IPYAGENT_MODEL_USER"


def complete_arguments(raw: str) -> dict[str, Any] | None:
    """The arguments as a dict once their JSON object is closed (a JSON object that parses
    cannot be continued), else ``None``: the model is still writing them."""
    text = raw.rstrip()
    if not text.endswith("}"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def parse_arguments(raw: str) -> dict[str, Any] | str:
    """Tool-call arguments as a dict, or the raw text when it is not a JSON object."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, dict) else raw


class OpenAIBackend(SdkBackend):
    provider = "OpenAI"
    key_env = KEY_ENV
    spec_hint = "'openai:MODEL' or 'openai:MODEL@BASE_URL'"
    keyless_with_url = True

    def __init__(
        self,
        model: str,
        *,
        temperature: float | None = None,
        tool_choice: str | None = None,
        **connection: Unpack[Connection],
    ) -> None:
        super().__init__(model, **connection)
        self.temperature = temperature
        # None or "auto": the model decides; "required": some tool; "none": no tool; or a tool's
        # name, which forces that tool whenever it is offered.
        self.tool_choice = tool_choice

    def new_client(self, key: str) -> Any:
        from openai import AsyncOpenAI

        return AsyncOpenAI(
            api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries
        )

    def request(self, context: Context) -> dict[str, Any]:
        """The keyword arguments of one streaming chat-completions call."""
        messages, tools = render_openai(context)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            kwargs["tools"] = tools
            choice = self.tool_choice
            if choice in ("auto", "required", "none"):
                kwargs["tool_choice"] = choice
            elif choice is not None and any(t["function"]["name"] == choice for t in tools):
                kwargs["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        # Whose request it is, for a shared server that lets its users take turns (a classroom
        # sets it to the student's name); never sent unless set.
        user = os.environ.get(USER_ENV, "").strip()
        if user:
            kwargs["user"] = user
        return kwargs

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        import openai

        started = self.clock.now()
        first: float | None = None
        calls: dict[int, dict[str, str]] = {}
        sent: set[int] = set()  # calls already yielded: each starts as soon as it is complete
        usage = Usage()
        finished = False  # a stream that ends without a finish reason was cut off
        try:
            response = await self.client().chat.completions.create(**self.request(context))
            async with response:  # closed on every way out: no half-read connection is left behind
                async for chunk in response:
                    if chunk.usage is not None:
                        details = getattr(chunk.usage, "prompt_tokens_details", None)
                        usage = Usage(
                            input_tokens=chunk.usage.prompt_tokens or 0,
                            output_tokens=chunk.usage.completion_tokens or 0,
                            cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
                        )
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta
                    finished = finished or chunk.choices[0].finish_reason is not None
                    if first is None and (delta.content or delta.tool_calls):
                        first = self.clock.now() - started
                    if delta.content:
                        yield TextChunk(delta.content)
                    for call in delta.tool_calls or ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        if call.id:
                            slot["id"] = call.id
                        if call.function is not None:
                            # The name comes whole (some servers repeat it in every chunk).
                            if call.function.name and not slot["name"]:
                                slot["name"] = call.function.name
                            slot["arguments"] += call.function.arguments or ""
                    for index in sorted(set(calls) - sent):
                        slot = calls[index]
                        if not slot["name"]:
                            continue
                        arguments: dict[str, Any] | str | None = complete_arguments(slot["arguments"])
                        # Calls stream one after another: one is also complete when the next begins.
                        if arguments is None and index < max(calls):
                            arguments = parse_arguments(slot["arguments"])
                        if arguments is not None:
                            sent.add(index)
                            yield ToolCallChunk(ToolCallRequest(slot["name"], arguments, slot["id"]))
        except Exception as exc:  # SDK, HTTP and stream-parsing failures alike (sdk_error sorts them)
            raise self.failure(exc, openai) from None
        if not finished:
            raise self.cut_off()
        for index in sorted(set(calls) - sent):
            slot = calls[index]
            yield ToolCallChunk(ToolCallRequest(slot["name"], parse_arguments(slot["arguments"]), slot["id"]))
        total = self.clock.now() - started
        yield UsageChunk(Usage(usage.input_tokens, usage.output_tokens, usage.cached_tokens, first, total))
