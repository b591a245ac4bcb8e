"""Faults during ``%agent`` in a real ipyagent kernel: a model that cannot be reached and a tool
that raises. The user reads one line in the ledger, the kernel answers a kernel_info_request at
once, and the next ``%agent`` is answered."""

from __future__ import annotations

import socket
import time

from support.faultlog import FaultRecorder


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # free again once closed: nothing listens there


def kernel_alive(kernel) -> float:  # type: ignore[no-untyped-def]
    """Seconds a kernel_info_request took to answer."""
    started = time.monotonic()
    reply = kernel.kc.kernel_info(reply=True, timeout=10)
    assert reply["content"]["status"] == "ok"
    return time.monotonic() - started


def notifications(kernel) -> list[str]:  # type: ignore[no-untyped-def]
    """The agent's notifications, in full (``%ledger --text`` shortens long lines)."""
    code = (
        "from ipyagent.kernel.registry import current_session\n"
        "for _e in current_session(get_ipython()).agent.ledger:\n"
        "    if _e.kind == 'notification': print(_e.text)"
    )
    return kernel.text(code).splitlines()


def test_backend_and_tool_failures_leave_the_kernel_answering(
    start_kernel, script, faults: FaultRecorder
) -> None:
    port = closed_port()
    kernel = start_kernel(f"openai:gpt-test@http://127.0.0.1:{port}/v1", OPENAI_API_KEY="sk-unused-000000")

    with faults("kernel: model server unreachable during %agent", "model_error: lost the connection") as row:
        kernel.text("%agent Hello?")
        kernel.text("%agent --wait --timeout 60")
        [note] = notifications(kernel)
        row.seen = note
        assert note.startswith(f"the model failed: lost the connection to http://127.0.0.1:{port}/v1")
        assert "Traceback" not in kernel.text("%ledger --text")
        assert kernel_alive(kernel) < 5
        assert "idle" in kernel.text("%agents")
        # The user switches to a model that works and goes on in the same conversation.
        kernel.text(
            "%model "
            + script(
                [
                    {"delay": 0.1, "text": "Here now."},
                    {"delay": 0.1, "text": "Checking.", "tool_calls": [{"name": "explode", "arguments": {}}]},
                    {"delay": 0.1, "text": "The tool broke."},
                    {"delay": 0.1, "text": "Still here."},
                ]
            )
        )
        kernel.text("%agent Are you there now?")
        kernel.text("%agent --wait --timeout 30")
        assert "Here now." in kernel.text("%ledger --text")

    with faults("kernel: tool raises during %agent", "tool_error: RuntimeError: disk on fire") as row:
        kernel.text(
            "from ipyagent import tool\n"
            "@tool\n"
            "def explode() -> str:\n"
            "    'Always fails.'\n"
            "    raise RuntimeError('disk on fire')\n"
        )
        view = kernel.view_of(kernel.execute("%agent Run the tool"))
        shown = kernel.wait_view(view, lambda text: "The tool broke." in text)
        assert "RuntimeError: disk on fire" in shown
        note = notifications(kernel)[-1]
        row.seen = note
        assert note == "RuntimeError: disk on fire"
        assert kernel_alive(kernel) < 5
        kernel.text("%agent And now?")
        kernel.text("%agent --wait --timeout 30")
        assert kernel.text("%ledger --text").rstrip().endswith("Still here.")
        assert "idle" in kernel.text("%agents")
