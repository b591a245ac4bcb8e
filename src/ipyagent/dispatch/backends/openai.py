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
from typing import Any

from ...clock import Clock, RealClock
from ...errors import ModelError
from ...events import ToolCallRequest, Usage
from ...ledger.render import render_openai
from ...ledger.render.context import Context
from ...redaction import redact, remember
from .base import Chunk, TextChunk, ToolCallChunk, UsageChunk
from .errors import cut_off, sdk_error

KEY_ENV = "OPENAI_API_KEY"


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


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        temperature: float | None = None,
        tool_choice: str | None = None,
    ) -> None:
        if not model:
            raise ModelError("an OpenAI model needs a name: 'openai:MODEL' or 'openai:MODEL@BASE_URL'")
        self.model = model
        self.base_url = base_url
        # Shown to the user and written to the ledger: never with a password the URL may hold.
        self.name = f"openai:{model}" + (f"@{redact(base_url)}" if base_url else "")
        self._api_key = api_key
        self.clock = clock or RealClock()
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        # None or "auto": the model decides; "required": some tool; "none": no tool; or a tool's
        # name, which forces that tool whenever it is offered.
        self.tool_choice = tool_choice
        self._client: Any = None

    def _key(self) -> str:
        key = self._api_key or os.environ.get(KEY_ENV)
        if key:
            remember(key)
            return key
        if self.base_url:
            return "no-key"  # local OpenAI-compatible servers usually need none
        raise ModelError(f"{KEY_ENV} is not set; set it to use {self.name}", category="auth")

    def client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=self._key(),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections; the next request opens new ones."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

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
        return kwargs

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        import openai

        started = self.clock.now()
        first: float | None = None
        calls: dict[int, dict[str, str]] = {}
        sent: set[int] = set()  # calls already yielded: each starts as soon as it is complete
        usage = Usage()
        finished = False  # a stream that ends without a finish reason was cut off
        secrets = (self._api_key, os.environ.get(KEY_ENV))
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
            raise sdk_error(
                exc,
                openai,
                provider="OpenAI",
                name=self.name,
                base_url=self.base_url,
                timeout=self.timeout,
                key_env=KEY_ENV,
                secrets=secrets,
            ) from None
        if not finished:
            raise cut_off("OpenAI", self.base_url)
        for index in sorted(set(calls) - sent):
            slot = calls[index]
            yield ToolCallChunk(ToolCallRequest(slot["name"], parse_arguments(slot["arguments"]), slot["id"]))
        total = self.clock.now() - started
        yield UsageChunk(Usage(usage.input_tokens, usage.output_tokens, usage.cached_tokens, first, total))
