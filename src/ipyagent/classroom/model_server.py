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
    ``GET /queue`` with those counts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
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
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.served += 1


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
    app = create_app(server_settings=ServerSettings(host=args.host, port=args.port), model_settings=[model])
    uvicorn.run(RequestCounter(app), host=args.host, port=args.port, log_level="warning")
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
    ) -> None:
        self.port = port
        self.log = log
        self.model = model
        self.threads = threads
        self.nice = nice
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

    def start(self, timeout: float = 120) -> None:
        command = [sys.executable, "-m", "ipyagent.classroom.model_server", "--port", str(self.port)]
        if self.model is not None:
            command += ["--model", str(self.model)]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
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
