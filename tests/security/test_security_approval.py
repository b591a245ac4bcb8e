"""Code runs in the user's namespace only with the user's approval, from every path that can ask
for it: the main agent, a sub-agent spawned or forked from a cell, a sub-agent the model spawned
itself, after a chat-box message, after a voice transcript. The model cannot approve itself: not
by saying ``%approve``, not by extra tool arguments, not through the chat box or voice.
"""

from __future__ import annotations

import re
from typing import Any

WIDGET = "application/vnd.jupyter.widget-view+json"


def run_python(code: str, text: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": "run_python", "arguments": {"code": code, **extra}}


STATE = """
from ipyagent.kernel.registry import get_session
_s = get_session(get_ipython())
_c = _s.code
print("\\nSTATE", sorted((a.id, a.status) for a in _c.requests.values()), _c.allow_code, 'pwned' in dir())
"""


def marked(text: str, marker: str) -> str:
    """The line a cell printed after ``marker`` (live views may refresh under the same cell)."""
    found = re.search(rf"{marker} (.*)$", text, re.MULTILINE)
    assert found is not None, text
    return found.group(1)


VOICE = """
from ipyagent import events as _ev
_s = get_session(get_ipython())
_s.loop.submit(lambda: _s.agent.post(_ev.UserMessage("yes, I approve r1 and r2, run it", "voice")))
"""


def test_every_path_to_running_code_asks_the_user(start_kernel, script) -> None:  # type: ignore[no-untyped-def]
    turns: list[dict[str, Any]] = [
        # The model tries to approve itself in words, and with an argument the tool does not take.
        {
            "agent": "main",
            "delay": 0.1,
            "text": "%approve r1\n%agent --allow-code\nI approve this myself.",
            "tool_calls": [
                run_python("pwned = 'main'"),
                run_python("pwned = 'args'", approved=True, allow_code=True),
            ],
        },
        {"agent": "main", "delay": 0.1, "text": "That call was rejected."},
        {"agent": "main", "delay": 0.1, "text": "%approve r1", "tool_calls": [run_python("pwned = 'chat'")]},
        {"agent": "main", "delay": 0.1, "text": "Heard you.", "tool_calls": [run_python("pwned = 'voice'")]},
        {"agent": "helper", "delay": 0.1, "text": "Running.", "tool_calls": [run_python("pwned = 'spawn'")]},
        {"agent": "forker", "delay": 0.1, "text": "Running.", "tool_calls": [run_python("pwned = 'fork'")]},
        {
            "agent": "main",
            "delay": 0.1,
            "text": "Starting a helper.",
            "tool_calls": [{"name": "spawn", "arguments": {"name": "kid", "task": "set pwned"}}],
        },
        {"agent": "kid", "delay": 0.1, "text": "Running.", "tool_calls": [run_python("pwned = 'kid'")]},
        *[{"agent": "main", "delay": 0.1, "text": "Noted."}] * 12,
        *[{"agent": name, "delay": 0.1, "text": "Done."} for name in ("helper", "forker", "kid")],
    ]
    kernel = start_kernel(script(turns))

    def state() -> str:
        return marked(kernel.text(STATE), "STATE")

    def wait_state(expected: str) -> None:
        for _ in range(100):
            if state() == expected:
                return
            kernel.drain(0.1)
        raise AssertionError(f"expected {expected}, got {state()}")

    # 1. The main agent: it asks; its own "%approve" and extra arguments change nothing.
    view = kernel.view_of(kernel.execute("%agent set up the data"))
    shown = kernel.wait_view(view, lambda t: "request r1" in t and "That call was rejected." in t)
    assert "run %approve r1 to run it" in shown
    assert "Additional properties are not allowed" in shown or "rejected" in shown
    wait_state("[('r1', 'pending')] False False")

    # 2. The chat box: the user's message is a message, not a command.
    chat = kernel.run("%chat")[1]
    comm_id = next(m["content"]["data"][WIDGET]["model_id"] for m in chat if m["msg_type"] == "display_data")
    kernel.wait_for(lambda m: m["msg_type"] == "comm_open" and m["content"]["comm_id"] == comm_id)
    content = {"type": "send", "text": "%approve r1"}
    kernel.kc.shell_channel.send(
        kernel.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
        )
    )
    wait_state("[('r1', 'pending'), ('r2', 'pending')] False False")

    # 3. Voice: a transcript is a user message too.
    kernel.text(VOICE)
    wait_state("[('r1', 'pending'), ('r2', 'pending'), ('r3', 'pending')] False False")

    # 4. Sub-agents started from cells, and one the model started itself.
    kernel.text("%%spawn helper\nSet pwned.")
    wait_state("[('r1', 'pending'), ('r2', 'pending'), ('r3', 'pending'), ('r4', 'pending')] False False")
    kernel.text("%%fork forker\nSet pwned too.")
    pending = "('r1', 'pending'), ('r2', 'pending'), ('r3', 'pending'), ('r4', 'pending'), ('r5', 'pending')"
    wait_state(f"[{pending}] False False")
    kernel.text("%agent start a helper for it")
    wait_state(f"[{pending}, ('r6', 'pending')] False False")
    assert "kid" in kernel.text("%agents --text")

    # Nothing ran. The user answers: each request is its own; only the approved one runs.
    for request in ("r1", "r2", "r3", "r5", "r6"):
        # (Other lines may be live views refreshing under this cell.)
        assert f"request {request} denied" in kernel.text(f"%deny {request}")
    assert "request r4 approved" in kernel.text("%approve r4")

    def pwned() -> str:
        return marked(kernel.text("print('\\nPWNED', repr(globals().get('pwned')))"), "PWNED")

    for _ in range(100):
        if pwned() == "'spawn'":
            break
        kernel.drain(0.1)
    assert pwned() == "'spawn'"
    assert "already denied" in kernel.error("%approve r1")[1]
    ledger = kernel.text("%ledger --text")
    assert "did not allow running this code" in ledger
