"""The magics show the live widgets (with their text in text/plain for clients that cannot render
them), and the browser's messages to the agent's widgets are answered while a cell blocks."""

from __future__ import annotations

from typing import Any

import pytest

WIDGET = "application/vnd.jupyter.widget-view+json"


def shown(kernel: Any, code: str) -> dict[str, Any]:
    """Run a magic that must show one widget; the display's data."""
    reply, outs = kernel.run(code, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    displays = [m["content"]["data"] for m in outs if m["msg_type"] == "display_data"]
    assert len(displays) == 1, outs
    return dict(displays[0])


def comm_opened(kernel: Any, model_id: str) -> dict[str, Any]:
    msg = kernel.wait_for(
        lambda m: m["msg_type"] == "comm_open" and m["content"]["comm_id"] == model_id,
        what=f"comm_open {model_id}",
    )
    return dict(msg["content"]["data"]["state"])


def test_magics_show_widgets_with_readable_text(start_kernel, script) -> None:
    kernel = start_kernel(script([{"text": "Paris is the capital of France."}]))
    kernel.run("%agent What is the capital of France?\n%agent --wait")
    ledger = shown(kernel, "%ledger")
    assert ledger[WIDGET]["model_id"]
    assert "Paris is the capital of France." in ledger["text/plain"]
    assert "What is the capital of France?" in ledger["text/plain"]
    state = comm_opened(kernel, ledger[WIDGET]["model_id"])
    assert state["_esm"], "the widget's ES module is sent with it"

    chat = shown(kernel, "%chat")
    assert chat[WIDGET]["model_id"] != ledger[WIDGET]["model_id"]
    assert "chat with main (idle)" in chat["text/plain"]
    assert "Paris is the capital of France." in chat["text/plain"]

    tree = shown(kernel, "%agents")
    assert WIDGET in tree
    assert tree["text/plain"].startswith("main")
    assert "idle" in tree["text/plain"]

    timeline = shown(kernel, "%timeline")
    assert WIDGET in timeline and "main" in timeline["text/plain"]
    feed = shown(kernel, "%notifications")
    assert WIDGET in feed and feed["text/plain"]

    # The text forms stay one option away.
    text = kernel.text("%ledger --text")
    assert text.startswith("ledger of main:") and "Paris" in text
    assert "entries" in kernel.text("%agents --text")
    assert "takes no arguments" in kernel.error("%chat now")[1]


def test_ledger_of_a_sub_agent_is_its_own_widget(start_kernel, script) -> None:
    kernel = start_kernel(
        script(
            [
                {"text": "Asked."},
                {"agent": "researcher", "text": "Lyon is on the Rhone."},
            ]
        )
    )
    kernel.run("%%spawn researcher\nWhere is Lyon?")
    kernel.run("%agent --wait", timeout=60)
    data = shown(kernel, "%ledger researcher")
    assert WIDGET in data
    assert "Where is Lyon?" in data["text/plain"]
    assert "no agent named 'nobody'" in kernel.error("%ledger nobody")[1]


def test_a_chat_message_is_answered_while_a_cell_blocks(start_kernel, script) -> None:
    kernel = start_kernel(script([{"text": "Hello from the agent."}]))
    chat = shown(kernel, "%chat")
    comm_id = chat[WIDGET]["model_id"]
    comm_opened(kernel, comm_id)
    blocking = kernel.execute("import time\ntime.sleep(20)\n'slept'")
    kernel.wait_for(
        lambda m: (
            m["parent_header"].get("msg_id") == blocking
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "busy"
        ),
        what="the blocking cell starting",
    )
    # What the browser sends when the user types in the chat box and presses Enter.
    send = kernel.kc.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "custom", "content": {"type": "send", "text": "Hi there"}}},
    )
    kernel.kc.shell_channel.send(send)

    def answered(m: dict[str, Any]) -> bool:
        if m["msg_type"] != "comm_msg" or m["content"]["comm_id"] != comm_id:
            return False
        lines = m["content"]["data"].get("state", {}).get("lines", [])
        return any(x["role"] == "assistant" and "Hello from the agent." in x["text"] for x in lines)

    answer = kernel.wait_for(answered, timeout=15, what="the chat box showing the answer")
    lines = answer["content"]["data"]["state"]["lines"]
    assert [x["role"] for x in lines] == ["user", "assistant"]
    assert lines[0]["text"] == "Hi there"
    # ... all while the cell still sleeps: its reply comes only afterwards.
    idle = kernel.idle(blocking, timeout=60)
    assert kernel.messages.index(answer) < kernel.messages.index(idle)
    assert kernel.reply(blocking)["content"]["status"] == "ok"
    # The widget's message did not make the kernel look idle while the cell ran.
    statuses = [
        m
        for m in kernel.messages
        if m["msg_type"] == "status" and m["parent_header"].get("msg_id") == send["header"]["msg_id"]
    ]
    assert statuses == []
    # The kernel goes on as usual, other comms included.
    assert kernel.text("6 * 7") == "42"


@pytest.mark.parametrize("code", ["%ledger", "%agents"])
def test_plain_ipython_kernel_shows_the_widgets_too(start_kernel, script, code) -> None:
    kernel = start_kernel(script([{"text": "Fine."}]), name="python3")
    kernel.run("%load_ext ipyagent")
    kernel.run("%agent How are you?\n%agent --wait", timeout=60)
    data = shown(kernel, code)
    assert WIDGET in data and "main" in data["text/plain"]


def test_voice_magic_shows_the_voice_widget(start_kernel, script) -> None:
    kernel = start_kernel(script([{"text": "Hello."}]))
    voice = shown(kernel, "%voice --tts espeak")
    assert voice[WIDGET]["model_id"]
    assert "usage: %voice [--tts piper|espeak|gtts]" in kernel.error("%voice --tts robot")[1]
