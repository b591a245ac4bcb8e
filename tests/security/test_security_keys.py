"""API keys never leak: realistic sessions through the real ipyagent kernel, with canary keys.

One kernel talks to the OpenAI and the Anthropic wire formats (the loopback fake server of
tests/fake_providers.py, run on a thread of its own) through ``%agent`` and ``%model``:
answers, tool calls, a tool that raises with the whole environment in its message, a tool that
returns the environment (and a key in base64), approved code printing the key, a forked
sub-agent, 401s that echo the key, 500s, a stream cut off mid-answer, a server that never
answers. Then every place a key could end up is searched for the key, its prefix and suffix, and
its base64 forms: the SQLite ledger files (bytes), every IOPub message (outputs, errors,
display data, widget comm messages and their buffers), the kernel process's stdout/stderr, Python
log records at DEBUG, the text and repr of exceptions, ``repr`` of the backend, agent, session and
ledger, what the model was sent, and the eval's reports.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ipyagent.testing.providers import Calls, Drop, FakeProvider, Reply, Status, Text, fake_provider

OPENAI_KEY = "oa-canary-" + secrets.token_hex(20)
ANTHROPIC_KEY = "an-canary-" + secrets.token_hex(20)


def forms(key: str) -> dict[str, str]:
    """The key and its obvious variants."""
    raw = key.encode()
    return {
        "key": key,
        "prefix": key[:16],
        "suffix": key[-16:],
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


FORMS = {
    f"{which} {name}": form
    for which, key in (("openai", OPENAI_KEY), ("anthropic", ANTHROPIC_KEY))
    for name, form in forms(key).items()
}


def leaks(where: str, blob: str | bytes) -> list[str]:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    return [f"{name} in {where}" for name, form in FORMS.items() if form in text]


@contextmanager
def served(*replies: Reply) -> Iterator[tuple[FakeProvider, int]]:
    """The fake provider, and a port that accepts connections but never answers, both on
    127.0.0.1, served from their own thread so the kernel (another process) can reach them."""
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[tuple[FakeProvider, int]] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()
        writer.close()

    async def main() -> None:
        async with fake_provider(*replies) as provider:
            mute = await asyncio.start_server(silent, "127.0.0.1", 0)
            ready.set_result((provider, mute.sockets[0].getsockname()[1]))
            await stop.wait()
            mute.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def openai_401(key: str) -> Status:
    # What OpenAI answers to a bad key: the key, masked, in the message (ours also has it whole).
    return Status(401, f"Incorrect API key provided: {key[:6]}****{key[-4:]} ({key}). See the docs.")


TOOLS = """
import base64, os
from ipyagent import tool

@tool
def inspect_environment(name: str) -> str:
    "Inspect an environment variable."
    raise RuntimeError(f"cannot inspect {name}; the environment is {dict(os.environ)}")

@tool
def read_config() -> str:
    "Read the configuration."
    key = os.environ["OPENAI_API_KEY"].encode()
    return f"config: {dict(os.environ)} token={base64.b64encode(key).decode()}"
"""

LOGGING = """
import logging
_handler = logging.FileHandler({path!r})
_handler.setLevel(logging.DEBUG)
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
logging.getLogger().addHandler(_handler)
logging.getLogger().setLevel(logging.DEBUG)
"""

REPRS = """
from ipyagent.kernel.registry import get_session
_s = get_session(get_ipython())
_a = _s.agent
for _thing in (_s, _a, _a.backend, _a.dispatcher, _a.ledger, _a.dispatcher.backend):
    print(repr(_thing), str(_thing))
try:
    _s.set_model("openai:")
except Exception as _exc:
    print(repr(_exc), str(_exc))
"""


def settle(kernel, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Wait, cell by cell, until every agent is idle with no task running. (Not ``%agent
    --wait``: approved code runs on the kernel's main thread, between cells, and a waiting cell
    would hold it back.)"""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        tree = kernel.text("%agents --text")
        busy = "running:" in tree or "generating" in tree or "emitting" in tree or "listening" in tree
        if not busy and tree == last:
            return
        last = "" if busy else tree
        kernel.drain(0.2)
    raise AssertionError(f"the agents did not settle within {timeout} s:\n{last}")


def converse(kernel, provider: FakeProvider, message: str, *replies: Reply) -> str:  # type: ignore[no-untyped-def]
    provider.replies[:] = list(replies)
    view = kernel.view_of(kernel.execute(f"%agent {message}"))
    settle(kernel)
    return kernel.view_text(view)


@pytest.mark.timeout(180)  # a kernel, four providers and their failures: ~25 s alone, more on a busy machine
def test_no_key_anywhere_after_realistic_sessions_with_failures(start_kernel, kernel_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log_file, output = tmp_path / "debug.log", tmp_path / "kernel-output.txt"
    with served() as (provider, silent_port):
        kernel = start_kernel(
            f"openai:gpt-test@{provider.openai_url}",
            output=output,
            OPENAI_API_KEY=OPENAI_KEY,
            ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        )
        kernel.text(LOGGING.format(path=str(log_file)))
        kernel.text(TOOLS)
        kernel.text("%agent --allow-code")
        shown: list[str] = []
        for model in ("openai", "anthropic"):
            if model == "anthropic":
                kernel.text(f"%model anthropic:claude-test@{provider.anthropic_url}")
            key = OPENAI_KEY if model == "openai" else ANTHROPIC_KEY
            code = json.dumps({"code": "import os\nprint(os.environ['OPENAI_API_KEY'])"})
            shown += [
                converse(kernel, provider, "hello", Text("Hello, how can I help?")),
                converse(
                    kernel,
                    provider,
                    "look at the environment",
                    Calls(
                        [
                            ("inspect_environment", '{"name": "PATH"}'),
                            ("read_config", "{}"),
                            ("run_python", code),
                        ],
                        text="Checking.",
                    ),
                    *[Text("Here is what came back.")] * 4,
                ),
                converse(kernel, provider, "again", openai_401(key)),
                converse(kernel, provider, "once more", *[Status(500, f"upstream failed for {key}")] * 4),
                converse(kernel, provider, "tell me a story", Drop("Once upon a time")),
            ]
            kernel.text("%%fork helper_" + model + "\nSummarise what happened.")
            provider.replies[:] = [Text("Summary: nothing.")] * 3
            settle(kernel)
        # A server that never answers, with a short timeout (a backend object: %model takes strings).
        kernel.text(
            "from ipyagent.kernel.registry import get_session\n"
            "from ipyagent.dispatch.backends.openai import OpenAIBackend\n"
            f"get_session(get_ipython()).set_model(OpenAIBackend('gpt-test', "
            f"base_url='http://127.0.0.1:{silent_port}/v1', timeout=0.5, max_retries=0))"
        )
        shown.append(converse(kernel, provider, "are you there?"))
        texts = {
            magic: kernel.text(magic)
            for magic in (
                "%ledger --text --system",
                "%ledger helper_openai --text",
                "%agents --text",
                "%model",
            )
        }
        kernel.text("%ledger")  # the live ledger widget: its comm messages carry the entries
        kernel.text("%notifications")
        reprs = kernel.text(REPRS)
        kernel.drain(0.5)
        requests = list(provider.requests)

    # The sessions did what they were meant to: every failure was seen, and told without the key.
    ledger = "\n".join(shown)  # the cell views: whole lines, where %ledger --text cuts them
    assert "rejected the API key (401)" in ledger
    assert "server error (500) after retries" in ledger
    assert "cut off" in ledger
    assert "did not answer within 0.5 s" in ledger
    assert "RuntimeError: cannot inspect PATH" in ledger
    assert "[redacted]" in ledger
    assert "Summary: nothing." in texts["%ledger helper_openai --text"]
    assert any(r.path.endswith("/messages") for r in requests)
    assert any(r.path.endswith("/chat/completions") for r in requests)
    # The key went to the server in the request headers only.
    auth = [r.headers.get("authorization", "") + r.headers.get("x-api-key", "") for r in requests]
    assert any(OPENAI_KEY in a for a in auth)
    assert any(ANTHROPIC_KEY in a for a in auth)

    found: list[str] = []
    for r in requests:
        found += leaks(f"a request body to {r.path} (what the model reads)", json.dumps(r.body))
    for i, msg in enumerate(kernel.messages):
        found += leaks(f"IOPub message {i} ({msg['msg_type']})", json.dumps(msg, default=str))
        for buffer in msg.get("buffers") or []:
            found += leaks(f"a buffer of IOPub message {i}", bytes(buffer))
    sqlite = [p for p in kernel_dirs["sessions"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in sqlite)
    for path in sqlite:
        found += leaks(f"ledger file {path.name}", path.read_bytes())
    kernel.shutdown()  # flushes the kernel's own output
    found += leaks("kernel stdout/stderr", output.read_bytes())
    debug_log = log_file.read_text()
    assert "DEBUG" in debug_log and "openai" in debug_log  # the SDK's debug records are in it
    found += leaks("log records at DEBUG", debug_log)
    for name, text in {**texts, "reprs": reprs, "cell views": "\n".join(shown)}.items():
        found += leaks(name, text)
    assert found == []


def test_no_key_in_eval_reports_logs_or_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ipyagent.eval.cli import main

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    out = {name: tmp_path / name for name in ("report.html", "scores.json", "runs.jsonl")}
    replies: list[Reply] = [
        Text("Let me plan that."),
        Calls([("get_weather", '{"city": "Paris"}')], text="Checking."),
        openai_401(OPENAI_KEY),
        *[Status(500, f"upstream failed for {OPENAI_KEY}")] * 4,
        Drop("It is sunny"),
    ]
    with served(*replies) as (provider, _):
        code = main(
            [
                "--model",
                f"openai:gpt-test@{provider.openai_url}",
                "--scenario",
                "async_basics/weather-during-itinerary",
                "--report",
                str(out["report.html"]),
                "--json",
                str(out["scores.json"]),
                "--export-jsonl",
                str(out["runs.jsonl"]),
                "--real-limit",
                "60",
                "-v",
            ]
        )
        requests = list(provider.requests)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert len(requests) >= 3  # the run reached the failures
    report = out["report.html"].read_text()
    assert "401" in report or "server error" in report  # the failures are in the report, told safely
    found = leaks("the console", printed.out + printed.err) + leaks("log records", caplog.text)
    for record in caplog.records:
        found += leaks(f"log record {record.name}", record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            found += leaks("a logged exception", repr(record.exc_info[1]) + str(record.exc_info[1]))
    for name, path in out.items():
        if path.exists():
            found += leaks(name, path.read_bytes())
    for r in requests:
        found += leaks(f"a request body to {r.path}", json.dumps(r.body))
    assert found == []
