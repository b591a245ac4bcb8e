"""A small HTTP server on 127.0.0.1 that speaks the streaming wire formats of the OpenAI chat
completions API and the Anthropic Messages API, answering from a queue of scripted replies.

Each reply is one of:
    Text("...")                       streamed in a few chunks
    Calls([(name, arguments_json)])   streamed tool calls (arguments_json may be malformed on purpose)
    Status(code, message)             an error response (with retry-after-ms so retries are quick)
    Drop("partial text")              streams some text, then cuts the connection mid-body
    Cut(reply, after)                 streams ``after`` events of ``reply``, then cuts the connection
    Stall(reply, after)               streams ``after`` events of ``reply`` (-1: not even the
                                      response headers), then holds the connection open, silent
    Garbage(lines, reply)             sends raw ``lines`` after the first event of ``reply``
    Empty()                           a 200 event stream that ends before its first event

Requests are recorded (path, headers, JSON body) so tests can check what the SDK sent. The server
runs on the test's own event loop and is closed by its context manager (which also ends stalls).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ipyagent.dispatch.backends import Backend
from ipyagent.dispatch.backends.anthropic import AnthropicBackend
from ipyagent.dispatch.backends.openai import OpenAIBackend


@dataclass
class Text:
    text: str
    cached_tokens: int = 0


@dataclass
class Calls:
    calls: list[tuple[str, str]]
    text: str = ""


@dataclass
class Status:
    code: int
    message: str


@dataclass
class Drop:
    text: str


@dataclass
class Cut:
    reply: Text | Calls
    after: int


@dataclass
class Stall:
    reply: Text | Calls
    after: int


@dataclass
class Garbage:
    lines: list[str]
    reply: Text | Calls


@dataclass
class Empty:
    pass


Reply = Text | Calls | Status | Drop | Cut | Stall | Garbage | Empty


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeProvider:
    replies: list[Reply] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    record: bool = True  # keep each request (off for long runs that measure memory)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.root}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.root

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}")
            if self.record:
                self.requests.append(Request(path, headers, body))
            reply = self.replies.pop(0) if self.replies else Status(500, "the fake server has no reply left")
            anthropic = path.endswith("/messages")
            await self.answer(reader, writer, reply, anthropic)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply, anthropic: bool
    ) -> None:
        if isinstance(reply, Stall) and reply.after < 0:
            await reader.read()  # silent until the client gives up or the server closes
            return
        if isinstance(reply, Status):
            if anthropic:
                error = {"type": "error", "error": {"type": "api_error", "message": reply.message}}
            else:
                error = {"error": {"message": reply.message, "type": "api_error", "code": str(reply.code)}}
            payload = json.dumps(error).encode()
            writer.write(
                f"HTTP/1.1 {reply.code} Error\r\ncontent-type: application/json\r\n"
                f"retry-after-ms: 10\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"connection: close\r\n\r\n"
        )
        if isinstance(reply, Empty):
            return
        inner = reply.reply if isinstance(reply, Cut | Stall | Garbage) else reply
        events = anthropic_events(inner) if anthropic else openai_events(inner)
        for n, (name, data) in enumerate(events):
            if (isinstance(reply, Drop) and n == 3) or (isinstance(reply, Cut) and n == reply.after):
                writer.transport.abort()  # cut mid-stream, no clean end
                return
            if isinstance(reply, Stall) and n == reply.after:
                await reader.read()
                return
            if isinstance(reply, Garbage) and n == 1:
                writer.write("".join(line + "\n" for line in reply.lines).encode())
            prefix = f"event: {name}\n" if name else ""
            writer.write(f"{prefix}data: {data}\n\n".encode())
            await writer.drain()
        await writer.drain()


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + words[-1:] if text else []


def openai_events(reply: Text | Calls | Drop) -> list[tuple[str, str]]:
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> str:
        choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake",
            "choices": choices,
        }
        if usage:
            body["usage"] = usage
        return json.dumps(body)

    out = [("", chunk({"role": "assistant", "content": ""}))]
    text = reply.text if isinstance(reply, Text | Calls | Drop) else ""
    out += [("", chunk({"content": p})) for p in _pieces(text)]
    if isinstance(reply, Drop):
        out += [("", chunk({"content": " more"}))] * 5
    if isinstance(reply, Calls):
        for i, (name, args) in enumerate(reply.calls):
            out.append(
                (
                    "",
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": f"call_{i}",
                                    "type": "function",
                                    "function": {"name": name, "arguments": ""},
                                }
                            ]
                        }
                    ),
                )
            )
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                out.append(("", chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})))
    out.append(("", chunk({}, "tool_calls" if isinstance(reply, Calls) else "stop")))
    cached = reply.cached_tokens if isinstance(reply, Text) else 0
    out.append(
        (
            "",
            chunk(
                {},
                usage={
                    "prompt_tokens": 50,
                    "completion_tokens": 7,
                    "total_tokens": 57,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            ),
        )
    )
    out.append(("", "[DONE]"))
    return out


def anthropic_events(reply: Text | Calls | Drop) -> list[tuple[str, str]]:
    cached = reply.cached_tokens if isinstance(reply, Text) else 0
    out = [
        (
            "message_start",
            json.dumps(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": "fake",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": 50 - cached,
                            "output_tokens": 1,
                            "cache_read_input_tokens": cached,
                            "cache_creation_input_tokens": 0,
                        },
                    },
                }
            ),
        )
    ]
    index = 0
    text = reply.text if isinstance(reply, Text | Calls | Drop) else ""
    if text or isinstance(reply, Drop):
        out.append(
            (
                "content_block_start",
                json.dumps(
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
                ),
            )
        )
        for p in _pieces(text) + ([" more"] * 5 if isinstance(reply, Drop) else []):
            out.append(
                (
                    "content_block_delta",
                    json.dumps(
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": p},
                        }
                    ),
                )
            )
        out.append(("content_block_stop", json.dumps({"type": "content_block_stop", "index": 0})))
        index = 1
    if isinstance(reply, Calls):
        for name, args in reply.calls:
            out.append(
                (
                    "content_block_start",
                    json.dumps(
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {
                                "type": "tool_use",
                                "id": f"toolu_{index}",
                                "name": name,
                                "input": {},
                            },
                        }
                    ),
                )
            )
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                out.append(
                    (
                        "content_block_delta",
                        json.dumps(
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": part},
                            }
                        ),
                    )
                )
            out.append(("content_block_stop", json.dumps({"type": "content_block_stop", "index": index})))
            index += 1
    stop = "tool_use" if isinstance(reply, Calls) else "end_turn"
    out.append(
        (
            "message_delta",
            json.dumps(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 7},
                }
            ),
        )
    )
    out.append(("message_stop", json.dumps({"type": "message_stop"})))
    return out


@asynccontextmanager
async def fake_provider(*replies: Reply) -> AsyncIterator[FakeProvider]:
    provider = FakeProvider(list(replies))
    server = await asyncio.start_server(provider.handle, "127.0.0.1", 0)
    provider.port = server.sockets[0].getsockname()[1]
    try:
        yield provider
    finally:
        server.close()
        # Connections the client still holds open (keep-alive, or one it never used) end here.
        for writer in list(provider.writers):
            writer.transport.abort()
        await server.wait_closed()


def sdk_backend(provider: str, root: str, **options: Any) -> Backend:
    """The backend for ``provider`` ("openai" or "anthropic"), through its official SDK, aimed at
    a server at ``root`` (``http://127.0.0.1:PORT``; OpenAI's API lives under /v1 there)."""
    if provider == "openai":
        return OpenAIBackend("gpt-test", base_url=f"{root}/v1", **options)
    return AnthropicBackend("claude-test", base_url=root, **options)
