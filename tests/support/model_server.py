"""Starts ``python -m llama_cpp.server`` with the local SmolLM2 model on 127.0.0.1, for tests."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ipyagent import processes
from ipyagent.dispatch.backends.local import default_model_path
from ipyagent.testing.lab import free_port


@contextmanager
def llama_server(startup_seconds: float = 120) -> Iterator[str]:
    """Yield the server's OpenAI base URL once it says it is listening; stop it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(default_model_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chat_format",
            "chatml-function-calling",
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def watch() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if "Uvicorn running on" in line:
                ready.set()
        ready.set()  # it exited

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not ready.wait(startup_seconds) or process.poll() is not None:
            raise RuntimeError("llama_cpp.server did not start:\n" + "".join(log[-20:]))
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        processes.stop(process, 10)
        if process.stderr is not None:
            process.stderr.close()
