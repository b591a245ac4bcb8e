"""Sub-agents in their own cells, the interrupt button, %cancel, and errors as one line."""

from __future__ import annotations


def test_a_fork_cell_is_the_childs_live_view_and_its_answer_reaches_the_parent(start_kernel, script) -> None:
    kernel = start_kernel(
        script(
            [
                {"agent": "researcher", "delay": 1.0, "text": "Paris has twenty arrondissements."},
                {"agent": "main", "delay": 0.1, "text": "The researcher reported back."},
            ]
        )
    )
    cell = kernel.execute("%%fork researcher\nHow many arrondissements does Paris have?")
    view = kernel.view_of(cell)
    assert "arrondissements." not in kernel.view_text(view)
    final = kernel.wait_view(view, lambda text: "main/researcher: done" in text)
    assert "Paris has twenty arrondissements." in final
    reply_at = kernel.messages.index(kernel.idle(cell))
    assert any(i > reply_at for i in kernel.updates(view))
    tree = kernel.text("%agents")
    assert "researcher" in tree and "done" in tree
    kernel.text("%agent --wait --timeout 20")
    ledger = kernel.text("%ledger")
    assert "[subagent_report" in ledger and "Paris has twenty arrondissements." in ledger
    assert "The researcher reported back." in ledger
    assert "Paris has twenty arrondissements." in kernel.text("%ledger researcher")


def test_a_spawn_cell_starts_fresh(start_kernel, script) -> None:
    kernel = start_kernel(script([{"agent": "helper", "delay": 0.2, "text": "Fresh answer."}]))
    cell = kernel.execute("%%spawn helper\nSay something")
    view = kernel.view_of(cell)
    final = kernel.wait_view(view, lambda text: "main/helper: done" in text)
    assert "↳ spawn 'helper': Say something" in final and "Fresh answer." in final


def test_the_interrupt_button_interrupts_the_agent_not_the_kernel(start_kernel, script) -> None:
    long_answer = " ".join(f"w{i}" for i in range(400))
    kernel = start_kernel(script([{"delay": 60.0, "text": long_answer}]))
    cell = kernel.execute("%agent Talk for a minute")
    view = kernel.view_of(cell)
    kernel.wait_view(view, lambda text: "w3" in text)
    # What JupyterLab's stop button sends for a kernel with interrupt_mode "message".
    kernel.km.interrupt_kernel()
    final = kernel.wait_view(view, lambda text: "■ interrupted" in text, timeout=20)
    assert "stopped with the Jupyter interrupt button" in final
    assert "w399" not in final
    # The kernel is alive, no cell got a KeyboardInterrupt, and the agent listens again.
    assert kernel.text("1 + 1") == "2"
    assert not [m for m in kernel.messages if m["msg_type"] == "error"]
    ledger = kernel.text("%ledger")
    assert "interruption" in ledger and "[interrupted]" in ledger


def test_the_interrupt_button_still_stops_a_running_cell(start_kernel, script) -> None:
    kernel = start_kernel(script([{"delay": 0.1, "text": "unused"}]))
    # Not stop_on_error: the kernel would abort a request arriving just after the error (a race).
    cell = kernel.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(30)", stop_on_error=False)
    kernel.wait_for(lambda m: m["parent_header"].get("msg_id") == cell and m["msg_type"] == "stream")
    kernel.km.interrupt_kernel()
    reply = kernel.reply(cell, timeout=20)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert kernel.text("'alive'") == "'alive'"


def test_percent_interrupt_and_cancel(start_kernel, script) -> None:
    long_answer = " ".join(f"w{i}" for i in range(400))
    kernel = start_kernel(
        script(
            [
                {"agent": "main", "delay": 60.0, "text": long_answer},
                {"agent": "slow", "delay": 60.0, "text": long_answer},
                {"agent": "main", "delay": 0.1, "text": "The slow one was cancelled."},
                {"agent": "main", "delay": 0.1, "text": "Back again."},
            ]
        )
    )
    view = kernel.view_of(kernel.execute("%agent Talk"))
    kernel.wait_view(view, lambda text: "w2" in text)
    kernel.text("%interrupt")
    assert "interrupted by %interrupt" in kernel.wait_view(view, lambda text: "■ interrupted" in text)

    child = kernel.view_of(kernel.execute("%%fork slow\nTalk slowly"))
    kernel.wait_view(child, lambda text: "w2" in text)
    assert kernel.text("%cancel slow").strip() == "cancelled main/slow"
    assert "main/slow: cancelled" in kernel.wait_view(child, lambda text: "cancelled" in text)

    # Cancelling the main agent stops it; the next message starts a new one on the same ledger.
    assert kernel.text("%cancel main").strip() == "cancelled main"
    assert "cancelled" in kernel.text("%agents")
    view = kernel.view_of(kernel.execute("%agent Are you back?"))
    # It answers from the same script (where the cancelled agent left it).
    answer = kernel.wait_view(view, lambda text: "main: idle" in text)
    assert answer.splitlines()[-2] in ("The slow one was cancelled.", "Back again.")
    ledger = kernel.text("%ledger")
    assert "Talk" in ledger and "Are you back?" in ledger


def test_mistakes_are_one_clear_line(start_kernel, script) -> None:
    kernel = start_kernel(script([{"delay": 0.1, "text": "hi"}]))
    cases = {
        "%agent --bogus hello": "unknown option --bogus",
        "%agent": "%agent needs a message",
        "%model nonsense:thing": "unknown model 'nonsense:thing'",
        "%model scripted:/no/such/file.json": "file not found",
        "%cancel nobody": "no agent yet",
        "%%fork\ntask": "give the sub-agent a name",
        "%agent --wait --timeout soon": "%agent --timeout: needs a number",
        "%approve": "pending requests: none",
        "%agent --resume": "no earlier session of this notebook",
    }
    for code, expected in cases.items():
        ename, shown = kernel.error(code)
        assert ename == "UsageError", code
        assert expected in shown, (code, shown)
        assert len(shown.strip().splitlines()) == 1, shown
    kernel.text("%agent hello")
    assert "no agent named 'nobody'; agents: main" in kernel.error("%ledger nobody")[1]
    # Once the agent has answered, so no update of its live view lands in the next cell's output.
    kernel.text("%agent --wait --timeout 30")
    assert kernel.text("'still fine'") == "'still fine'"


def test_help_documents_every_magic(start_kernel) -> None:
    kernel = start_kernel()
    text = kernel.text("%agent --help")
    for magic in (
        "%%agent",
        "%%fork",
        "%%spawn",
        "%agents",
        "%ledger",
        "%interrupt",
        "%cancel",
        "%model",
        "%tools",
    ):
        assert magic in text
