"""Every backend hands over a tool call the moment its arguments are complete, before its stream
ends: OpenAI and Anthropic through their SDKs over loopback HTTP (the server then falls silent,
so a backend that waited for the end would never hand it over), and the local backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from ipyagent.dispatch.backends.base import ToolCallChunk
from ipyagent.dispatch.backends.local import LocalBackend
from ipyagent.ledger import Entry
from ipyagent.ledger.render import Context, ToolSpec
from ipyagent.testing import VirtualClock
from ipyagent.testing.providers import (
    Calls,
    Stall,
    anthropic_events,
    fake_provider,
    openai_events,
    sdk_backend,
)

TOOL = ToolSpec("lookup", "Look a city up.", {"type": "object", "properties": {"city": {"type": "string"}}})
CONTEXT = Context(
    entries=[Entry("system", "hi", index=0), Entry("user", "Paris and Rome?", index=1)], tools=[TOOL]
)
REPLY = Calls([("lookup", '{"city": "Paris"}'), ("lookup", '{"city": "Rome"}')], text="Looking.")


def stall_after_first_call(provider: str) -> int:
    """The index of the first event after call 0 is complete (and before call 1 is)."""
    if provider == "openai":
        events = openai_events(REPLY)
        return next(n for n, (_, data) in enumerate(events) if '"index": 1' in data and "tool_calls" in data)
    events = anthropic_events(REPLY)
    stops = [n for n, (name, data) in enumerate(events) if name == "content_block_stop"]
    return stops[1] + 1  # after the text block's stop and the first call's stop


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_call_is_handed_over_before_the_stream_ends(provider: str) -> None:
    async with fake_provider(Stall(REPLY, stall_after_first_call(provider))) as server:
        backend = sdk_backend(provider, server.root, api_key="sk-test-key-0123456789")
        calls = []
        with anyio.fail_after(30):
            async for chunk in backend.stream(CONTEXT, agent="main"):
                if isinstance(chunk, ToolCallChunk):
                    calls.append(chunk.call)
                    break  # the stream is stalled from here on: only an early hand-over gets here
        assert [(c.name, dict(c.arguments)) for c in calls] == [("lookup", {"city": "Paris"})]  # type: ignore[arg-type]


class ScriptedLocal(LocalBackend):
    """The local backend's own parsing, over a fixed output decoded one piece per second."""

    def __init__(self, output: list[str], clock: VirtualClock) -> None:
        super().__init__(prompt_style="plain", clock=clock)
        self.output = output

    async def _ensure_loaded(self) -> AsyncIterator[Any]:
        return
        yield

    async def _pieces(self, *args: Any, **kwargs: Any) -> AsyncIterator[str]:
        for piece in self.output:
            await self.clock.sleep(1)
            yield piece


async def test_the_local_backend_hands_over_each_call_when_its_tag_closes() -> None:
    output = [
        "Looking",
        " both up.",
        '<tool_call>\n{"name": "lookup", "arguments": {"city": "Paris"}}\n',
        "</tool_call>\n",
        '<tool_call>\n{"name": "lookup", "arguments": {"city": "Rome"}}\n',
        "</tool_call>",
        "\n",
    ]
    async with VirtualClock() as clock:
        backend = ScriptedLocal(output, clock)
        when = []
        async for chunk in backend.stream(CONTEXT, agent="main"):
            if isinstance(chunk, ToolCallChunk):
                when.append((chunk.call.arguments, clock.now()))
    assert when == [({"city": "Paris"}, 4.0), ({"city": "Rome"}, 6.0)]
