"""A %%agent cell returns at once; its output area is the live view of the exchange, updated
from the agent's own thread after the cell finished, while other cells run, and while a cell
blocks the kernel's main thread."""

from __future__ import annotations


def test_agent_cell_returns_before_the_agent_finishes_and_keeps_updating(start_kernel, script) -> None:
    words = " ".join(f"word{i}" for i in range(20))
    kernel = start_kernel(script([{"delay": 1.0, "text": words}]))
    cell = kernel.execute("%%agent\nTell me twenty words")
    reply = kernel.reply(cell)
    assert reply["content"]["status"] == "ok"
    view = kernel.view_of(cell)
    # Nothing of the answer was shown when the cell replied; the answer arrives as updates.
    assert "word19" not in kernel.view_text(view)
    final = kernel.wait_view(view, lambda text: "word19" in text and "main: idle" in text, timeout=30)
    assert final.splitlines()[0] == words
    reply_at = kernel.messages.index(kernel.idle(cell))
    assert any(i > reply_at for i in kernel.updates(view)), "no update arrived after the cell finished"


def test_the_agent_keeps_working_while_a_cell_blocks_the_main_thread(start_kernel, script) -> None:
    words = " ".join(f"word{i}" for i in range(30))
    kernel = start_kernel(script([{"delay": 1.5, "text": words}]))
    agent_cell = kernel.execute("%agent Tell me thirty words")
    view = kernel.view_of(agent_cell)
    blocking = kernel.execute("import time\ntime.sleep(4)\n'slept'")
    busy = kernel.wait_for(
        lambda m: (
            m["parent_header"].get("msg_id") == blocking
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "busy"
        )
    )
    idle = kernel.idle(blocking, timeout=30)
    start, end = kernel.messages.index(busy), kernel.messages.index(idle)
    during = [i for i in kernel.updates(view) if start < i < end]
    assert len(during) >= 3, "the view did not update while the cell blocked"
    # The whole answer streamed in while the cell was still sleeping.
    final = kernel.messages[during[-1]]
    assert "word29" in final["content"]["data"]["text/plain"]
    # Updates carry the header of the cell that runs now, so headless clients apply them.
    assert all(kernel.messages[i]["parent_header"]["msg_id"] == blocking for i in during)


def test_a_second_cell_runs_while_the_agent_is_still_working(start_kernel, script) -> None:
    kernel = start_kernel(script([{"delay": 3.0, "text": "a slow answer in many small words " * 3}]))
    first = kernel.execute("%agent Take your time")
    view = kernel.view_of(first)
    assert kernel.text("6 * 7") == "42"
    assert "main: generating" in kernel.view_text(view) or "main: idle" not in kernel.view_text(view)
    assert "main" in kernel.text("%agents")
    assert "generating" in kernel.text("%agents")
    kernel.wait_view(view, lambda text: "main: idle" in text)
