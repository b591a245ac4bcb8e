"""``anthropic:MODEL``: the official Anthropic SDK, streaming the Messages API.

A forked sub-agent's shared prefix carries a ``cache_control`` breakpoint (placed by the
renderer at the fork point), so its first generation reads the parent's prefix from the
provider's cache; cache reads and writes are recorded in the usage figures. The key comes from
``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from ...clock import Clock, RealClock
from ...errors import ModelError
from ...events import ToolCallRequest, Usage
from ...ledger.render import render_anthropic
from ...ledger.render.context import Context
from ...redaction import redact, remember
from .base import Chunk, TextChunk, ToolCallChunk, UsageChunk
from .errors import cut_off, sdk_error
from .openai import parse_arguments

KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicBackend:
    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_tokens: int = 1024,
    ) -> None:
        if not model:
            raise ModelError("an Anthropic model needs a name: 'anthropic:MODEL'")
        self.model = model
        self.base_url = base_url
        # Shown to the user and written to the ledger: never with a password the URL may hold.
        self.name = f"anthropic:{model}" + (f"@{redact(base_url)}" if base_url else "")
        self._api_key = api_key
        self.clock = clock or RealClock()
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            key = self._api_key or os.environ.get(KEY_ENV)
            if not key:
                raise ModelError(f"{KEY_ENV} is not set; set it to use {self.name}", category="auth")
            remember(key)
            from anthropic import AsyncAnthropic

            self._client = AsyncAnthropic(
                api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections; the next request opens new ones."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def request(self, context: Context) -> dict[str, Any]:
        system, messages, tools = render_anthropic(context)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
            "stream": True,
        }
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = tools
        return kwargs

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        import anthropic

        started = self.clock.now()
        first: float | None = None
        blocks: dict[int, dict[str, str]] = {}
        input_tokens = output_tokens = cached = 0
        finished = False  # a stream that ends without message_stop was cut off
        secrets = (self._api_key, os.environ.get(KEY_ENV))
        try:
            events = await self.client().messages.create(**self.request(context))
            async with events:  # closed on every way out: no half-read connection is left behind
                async for event in events:
                    kind = event.type
                    if kind == "message_start":
                        u = event.message.usage
                        input_tokens = (u.input_tokens or 0) + (
                            getattr(u, "cache_creation_input_tokens", 0) or 0
                        )
                        cached = getattr(u, "cache_read_input_tokens", 0) or 0
                        input_tokens += cached
                    elif kind == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = {"id": block.id, "name": block.name, "json": ""}
                    elif kind == "content_block_delta":
                        if first is None:
                            first = self.clock.now() - started
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            yield TextChunk(delta.text)
                        elif delta.type == "input_json_delta" and event.index in blocks:
                            blocks[event.index]["json"] += delta.partial_json
                    elif kind == "content_block_stop" and event.index in blocks:
                        # A tool call is complete: it starts now, while the model goes on.
                        b = blocks.pop(event.index)
                        yield ToolCallChunk(ToolCallRequest(b["name"], parse_arguments(b["json"]), b["id"]))
                    elif kind == "message_delta" and event.usage is not None:
                        output_tokens = event.usage.output_tokens or output_tokens
                    elif kind == "message_stop":
                        finished = True
        except Exception as exc:  # SDK, HTTP and stream-parsing failures alike (sdk_error sorts them)
            raise sdk_error(
                exc,
                anthropic,
                provider="Anthropic",
                name=self.name,
                base_url=self.base_url,
                timeout=self.timeout,
                key_env=KEY_ENV,
                secrets=secrets,
            ) from None
        if not finished:
            raise cut_off("Anthropic", self.base_url)
        for index in sorted(blocks):
            b = blocks[index]
            yield ToolCallChunk(ToolCallRequest(b["name"], parse_arguments(b["json"]), b["id"]))
        yield UsageChunk(Usage(input_tokens, output_tokens, cached, first, self.clock.now() - started))
