"""``anthropic:MODEL``: the official Anthropic SDK, streaming the Messages API.

A forked sub-agent's shared prefix carries a ``cache_control`` breakpoint (placed by the
renderer at the fork point), so its first generation reads the parent's prefix from the
provider's cache; cache reads and writes are recorded in the usage figures. The key comes from
``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ...events import ToolCallRequest, Usage
from ...ledger.render import render_anthropic
from ...ledger.render.context import Context
from .base import Chunk, TextChunk, ToolCallChunk, UsageChunk
from .openai import parse_arguments
from .sdk import Connection, SdkBackend

if TYPE_CHECKING:
    from typing_extensions import Unpack

KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicBackend(SdkBackend):
    provider = "Anthropic"
    key_env = KEY_ENV
    spec_hint = "'anthropic:MODEL'"

    def __init__(self, model: str, *, max_tokens: int = 1024, **connection: Unpack[Connection]) -> None:
        super().__init__(model, **connection)
        self.max_tokens = max_tokens

    def new_client(self, key: str) -> Any:
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(
            api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries
        )

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
            raise self.failure(exc, anthropic) from None
        if not finished:
            raise self.cut_off()
        for index in sorted(blocks):
            b = blocks[index]
            yield ToolCallChunk(ToolCallRequest(b["name"], parse_arguments(b["json"]), b["id"]))
        yield UsageChunk(Usage(input_tokens, output_tokens, cached, first, self.clock.now() - started))
