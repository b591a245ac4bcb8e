"""The classroom's shared model server: llama.cpp's OpenAI-compatible server with the embedded
SmolLM2 model (or another GGUF file), on 127.0.0.1.

Run it with ``python -m ipyagent.classroom.model_server [--model PATH] [--port N]``. It is
``python -m llama_cpp.server`` with the students taking turns (:class:`FairTurns`: one
student's flood of requests does not go ahead of everyone else's questions), a cap on the length
of every answer, and one read-only endpoint, ``GET /queue``: how many chat requests it holds
right now (one being answered, the rest waiting; llama.cpp's Python server answers one at a
time) and how many it has served. vLLM reports the same as
``vllm:num_requests_running`` / ``vllm:num_requests_waiting`` on ``/metrics``.

:class:`ModelServer` starts it as a child process and stops it, for the demo classroom, the
tests and the load benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import processes
from ..errors import IpyagentError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODEL_NAME = "smollm2"


class ModelServerError(IpyagentError):
    """Raised when the model server does not start; carries the end of its log."""


class FairTurns:
    """Which request the model answers next: students take turns.

    llama.cpp's server answers one request at a time, in arrival order: a student whose notebook
    sends twenty requests at once puts twenty answers ahead of everyone who asks after. Here each
    student (the request's ``user`` field, which the kernel fills in from
    ``IPYAGENT_MODEL_USER``) has their own line, and a free slot goes to the next student in turn
    who has a request waiting: a question waits for the answers in progress and at most one
    request of each other student, however many one of them sent. Requests without a ``user``
    share one line. Within a line, first come, first served.
    """

    def __init__(self, slots: int = 1) -> None:
        self.slots = slots
        self.running = 0
        self._lines: dict[str, deque[asyncio.Future[None]]] = {}  # in turn order

    @property
    def waiting(self) -> int:
        return sum(len(line) for line in self._lines.values())

    @property
    def students_waiting(self) -> int:
        return len(self._lines)

    @asynccontextmanager
    async def turn(self, student: str) -> AsyncIterator[None]:
        if self.running < self.slots and not self._lines:
            self.running += 1
        else:
            ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._lines.setdefault(student, deque()).append(ticket)
            try:
                await ticket  # the slot is handed over with the ticket: running already counts it
            except asyncio.CancelledError:
                if ticket.done() and not ticket.cancelled():
                    self._next()  # the turn came as the request gave up: pass it on
                else:
                    self._leave(student, ticket)
                raise
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        """A slot is free: give it to the first student in turn, who goes to the back."""
        self.running -= 1
        while self._lines and self.running < self.slots:
            student, line = next(iter(self._lines.items()))
            ticket = line.popleft()
            del self._lines[student]
            if line:
                self._lines[student] = line
            if not ticket.done():
                self.running += 1
                ticket.set_result(None)

    def _leave(self, student: str, ticket: asyncio.Future[None]) -> None:
        line = self._lines.get(student)
        if line is not None and ticket in line:
            line.remove(ticket)
            if not line:
                del self._lines[student]


class RequestCounter:
    """ASGI middleware: counts the chat and completion requests in the server, and answers
    ``GET /queue`` with those counts. With ``max_tokens``, no answer may be longer: a request
    asking for more (or not saying, which means "until the context is full") gets that many.
    With ``turns``, the requests wait their student's turn (:class:`FairTurns`) instead of
    being answered in arrival order."""

    def __init__(self, app: ASGIApp, max_tokens: int | None = None, turns: FairTurns | None = None) -> None:
        self.app = app
        self.max_tokens = max_tokens
        self.turns = turns
        self.in_flight = 0
        self.most_in_flight = 0
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/queue":
            counts = {
                "in_flight": self.in_flight,
                "waiting": max(self.in_flight - 1, 0),
                "most_in_flight": self.most_in_flight,
                "served": self.served,
            }
            if self.turns is not None:
                counts["waiting"] = self.turns.waiting
                counts["students_waiting"] = self.turns.students_waiting
            body = json.dumps(counts).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if not path.endswith("/completions"):
            await self.app(scope, receive, send)
            return
        student = ""
        if scope.get("method") == "POST" and (self.max_tokens is not None or self.turns is not None):
            scope, receive, student = await self._read(scope, receive)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.turns is None:
                await self.app(scope, receive, send)
            else:
                async with self.turns.turn(student):
                    await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.served += 1

    async def _read(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive, str]:
        """The request with ``max_tokens`` at most the cap, and whose it is (its ``user``)."""
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        student = ""
        if isinstance(request, dict):
            student = str(request.get("user") or "")
            cap = self.max_tokens
            if cap is not None:
                asked = request.get("max_tokens")
                request["max_tokens"] = min(asked, cap) if isinstance(asked, int) and asked > 0 else cap
                body = json.dumps(request).encode()
                headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
                scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for the client to disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return scope, replay, student


def default_model() -> Path:
    from ..dispatch.backends.local import default_model_path

    return default_model_path()


def serve(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ipyagent.classroom.model_server",
        description="llama.cpp's OpenAI-compatible server for a classroom, with GET /queue",
    )
    parser.add_argument("--model", help="a GGUF file (default: the embedded SmolLM2-135M)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for generation")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context length in tokens")
    parser.add_argument(
        "--max-tokens", type=int, default=512, help="the longest answer, in tokens (0: no cap)"
    )
    args = parser.parse_args(argv)

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    model = ModelSettings(
        model=args.model or str(default_model()),
        model_alias=MODEL_NAME if not args.model else None,
        chat_format="chatml-function-calling",
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    # By default llama.cpp's Python server cuts off the answer it is streaming whenever another
    # request arrives ("interrupt_requests"): with many students that is every answer. Queue them.
    server = ServerSettings(host=args.host, port=args.port, interrupt_requests=False)
    app = create_app(server_settings=server, model_settings=[model])
    # One answer at a time (what llama.cpp's server does), the students taking turns.
    counter = RequestCounter(app, max_tokens=args.max_tokens or None, turns=FairTurns(slots=1))
    uvicorn.run(counter, host=args.host, port=args.port, log_level="warning")
    return 0


class ModelServer:
    """The model server as a child process: ``with ModelServer(port) as server: server.url``."""

    def __init__(
        self,
        port: int,
        *,
        log: Path,
        model: Path | None = None,
        threads: int | None = None,
        nice: int = 0,
        max_tokens: int | None = None,
    ) -> None:
        self.port = port
        self.log = log
        self.model = model
        self.threads = threads
        self.nice = nice
        self.max_tokens = max_tokens  # None: the server's default cap
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model_string(self) -> str:
        """What ``IPYAGENT_MODEL`` says to reach it."""
        name = MODEL_NAME if self.model is None else self.model.stem
        return f"openai:{name}@{self.url}"

    def start(self, timeout: float = 600) -> None:
        """Start the server; wait until it answers (seconds on a quiet machine; loading the
        model on busy cores can take minutes)."""
        launch = "from ipyagent.classroom.model_server import serve; serve()"
        command = [sys.executable, "-c", launch, "--port", str(self.port)]
        if self.model is not None:
            command += ["--model", str(self.model)]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
        if self.max_tokens is not None:
            command += ["--max-tokens", str(self.max_tokens)]
        if self.nice:
            command = ["nice", "-n", str(self.nice), *command]
        environ = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                self.queue()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise ModelServerError(f"the model server did not start on port {self.port}:\n{tail}")

    def queue(self) -> dict[str, int]:
        """The server's counts (``GET /queue``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/queue", timeout=5) as reply:
            counts: dict[str, int] = json.loads(reply.read())
            return counts

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        processes.stop(process, 15)

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(serve())
