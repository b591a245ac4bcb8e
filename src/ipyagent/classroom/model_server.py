"""The classroom's shared model server: llama.cpp's OpenAI-compatible server with the embedded
SmolLM2 model (or another GGUF file), on 127.0.0.1.

Run it with ``python -m ipyagent.classroom.model_server [--model PATH] [--port N]``. It is
``python -m llama_cpp.server`` plus one read-only endpoint, ``GET /queue``: how many chat
requests it holds right now (one being answered, the rest waiting; llama.cpp's Python server
answers one at a time) and how many it has served. vLLM reports the same as
``vllm:num_requests_running`` / ``vllm:num_requests_waiting`` on ``/metrics``.

:class:`ModelServer` starts it as a child process and stops it, for the demo classroom, the
tests and the load benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import IpyagentError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODEL_NAME = "smollm2"


class ModelServerError(IpyagentError):
    """Raised when the model server does not start; carries the end of its log."""


class RequestCounter:
    """ASGI middleware: counts the chat and completion requests in the server, and answers
    ``GET /queue`` with those counts. With ``max_tokens``, no answer may be longer: a request
    asking for more (or not saying, which means "until the context is full") gets that many."""

    def __init__(self, app: ASGIApp, max_tokens: int | None = None) -> None:
        self.app = app
        self.max_tokens = max_tokens
        self.in_flight = 0
        self.most_in_flight = 0
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/queue":
            body = json.dumps(
                {
                    "in_flight": self.in_flight,
                    "waiting": max(self.in_flight - 1, 0),
                    "most_in_flight": self.most_in_flight,
                    "served": self.served,
                }
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if not path.endswith("/completions"):
            await self.app(scope, receive, send)
            return
        if self.max_tokens is not None and scope.get("method") == "POST":
            scope, receive = await self._capped(scope, receive)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.served += 1

    async def _capped(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        """The request with ``max_tokens`` at most the cap."""
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
        cap = self.max_tokens
        if isinstance(request, dict) and cap is not None:
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

        return scope, replay


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
    counter = RequestCounter(app, max_tokens=args.max_tokens or None)
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
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(serve())
