"""The ledger survives a kernel restart; notebook tools; running code in the notebook only with
the user's approval; the magics in a plain IPython kernel."""

from __future__ import annotations

from pathlib import Path


def test_resume_after_a_kernel_restart_brings_back_every_entry(start_kernel, script, kernel_dirs) -> None:
    kernel = start_kernel(
        script(
            [
                {"agent": "main", "delay": 0.1, "text": "First answer."},
                {"agent": "main", "delay": 0.1, "text": "Second answer."},
                {"agent": "helper", "delay": 0.1, "text": "Helper says hi."},
                {"agent": "main", "delay": 0.1, "text": "Noted."},
            ]
        )
    )
    kernel.text("%agent Hello there")
    kernel.text("%agent --wait --timeout 20")
    kernel.text("%agent And a second question")
    kernel.text("%agent --wait --timeout 20")
    kernel.text("%%spawn helper\nSay hi")
    kernel.text("%agent --wait --timeout 20")
    before = kernel.text("%ledger --text")
    assert "First answer." in before and "Second answer." in before and "Helper says hi." in before
    helper_before = kernel.text("%ledger helper --text")
    files = list(kernel_dirs["sessions"].glob("*/*.sqlite"))
    assert len(files) == 1

    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    assert "no agent yet" in kernel.text("%agents")
    resumed = kernel.text("%agent --resume")
    assert f"from {files[0]}" in resumed
    for line in before.splitlines()[1:]:
        assert line.split(None, 1)[1] in resumed  # every entry, its time offset aside
    assert kernel.text("%ledger --text").splitlines()[1:] == before.splitlines()[1:]
    assert kernel.text("%ledger helper --text").splitlines()[1:] == helper_before.splitlines()[1:]
    # The conversation goes on in the same file.
    kernel.text("%agent Third?")
    kernel.text("%agent --wait --timeout 20")
    assert "Third?" in kernel.text("%ledger --text")
    assert list(kernel_dirs["sessions"].glob("*/*.sqlite")) == files


def test_tools_defined_in_the_notebook_are_available_at_once(start_kernel, script) -> None:
    kernel = start_kernel(
        script(
            [
                {"delay": 0.1, "text": "Hello."},
                {
                    "delay": 0.1,
                    "text": "Doubling.",
                    "tool_calls": [{"name": "double", "arguments": {"n": 21}}],
                },
                {"delay": 0.1, "text": "It is 42."},
            ]
        )
    )
    kernel.text("%agent hi")  # the agent exists before the tool does
    kernel.text("%agent --wait --timeout 20")
    kernel.text(
        "from ipyagent import tool\n"
        "@tool\n"
        "def double(n: int) -> int:\n"
        "    'Double a number.'\n"
        "    return n * 2\n"
    )
    tools = {line.split()[0]: line.split(None, 2)[1:] for line in kernel.text("%tools").splitlines()}
    assert tools["double"] == ["notebook", "Double a number."]
    assert tools["run_python"][0] == "built-in"
    view = kernel.view_of(kernel.execute("%agent What is 21 doubled?"))
    final = kernel.wait_view(view, lambda text: "It is 42." in text)
    assert "⚙ double(n=21) · t1 done" in final
    assert "✉ t1 double: 42" in final


def _run_python(code: str, text: str) -> dict[str, object]:
    return {"delay": 0.1, "text": text, "tool_calls": [{"name": "run_python", "arguments": {"code": code}}]}


def test_code_runs_in_the_notebook_only_with_approval(start_kernel, script) -> None:
    code = "answer = 6 * 7\nprint('computed')\nanswer"
    kernel = start_kernel(
        script(
            [
                _run_python(code, "Let me compute."),
                {"delay": 0.1, "text": "Understood, I did not run it."},
                _run_python(code, "Let me compute, please."),
                {"delay": 0.1, "text": "It is 42."},
                _run_python("answer += 1", "Adding one."),
                {"delay": 0.1, "text": "Now 43."},
            ]
        )
    )
    # Asked in the output area; refused: nothing runs.
    view = kernel.view_of(kernel.execute("%agent Compute the answer"))
    asking = kernel.wait_view(view, lambda text: "request r1" in text)
    assert "answer = 6 * 7" in asking and "%approve r1" in asking
    assert kernel.text("'answer' in globals()") == "False"
    assert kernel.text("%deny r1").strip() == "request r1 denied"
    final = kernel.wait_view(view, lambda text: "Understood" in text)
    assert "did not allow running this code" in final
    assert kernel.text("'answer' in globals()") == "False"

    # Approved: it runs in the notebook's namespace and the agent hears what it printed.
    view = kernel.view_of(kernel.execute("%agent Please compute it"))
    kernel.wait_view(view, lambda text: "request r2" in text)
    assert kernel.text("%approve").strip() == "request r2 approved"
    final = kernel.wait_view(view, lambda text: "It is 42." in text)
    assert "computed" in final and "42" in final
    assert kernel.text("answer") == "42"

    # Allowed for the session: runs without asking.
    kernel.text("%agent --allow-code")
    view = kernel.view_of(kernel.execute("%agent Add one"))
    final = kernel.wait_view(view, lambda text: "Now 43." in text)
    assert "request r3" not in final
    assert kernel.text("answer") == "43"


def test_a_bare_approve_never_runs_a_request_that_replaced_a_cancelled_one(start_kernel, script) -> None:
    """The user reads request r1 and types %approve; meanwhile r1 is cancelled and the agent asks
    again (r2, other code). A bare %approve must not run code the user has not read."""
    kernel = start_kernel(
        script(
            [
                _run_python("answer = 1", "Setting it to one."),
                _run_python("answer = 2", "Setting it to two."),
                {"delay": 0.1, "text": "Done."},
            ]
        )
    )
    first = kernel.view_of(kernel.execute("%agent Set it"))
    kernel.wait_view(first, lambda text: "request r1" in text)
    assert kernel.text("%cancel main").strip() == "cancelled main"
    second = kernel.view_of(kernel.execute("%agent Set it again"))
    kernel.wait_view(second, lambda text: "request r2" in text)

    _, shown = kernel.error("%approve")
    assert "request r1 was cancelled and r2 is a new one; read it, then %approve r2" in shown
    assert kernel.text("'answer' in globals()") == "False"
    assert kernel.text("%approve r2").strip() == "request r2 approved"
    kernel.wait_view(second, lambda text: "Done." in text)
    assert kernel.text("answer") == "2"


def test_agent_wait_hands_over_to_the_user_and_runs_allowed_code(start_kernel, script) -> None:
    """%agent --wait holds the kernel: it stops waiting when the agent asks to run code (the user
    can only answer once it returns), and code the agent may run, runs during the wait."""
    kernel = start_kernel(
        script(
            [
                _run_python("answer = 6 * 7", "Let me compute."),
                {"delay": 0.1, "text": "Done."},
                _run_python("answer += 1", "Adding one."),
                {"delay": 0.1, "text": "Now 43."},
            ]
        )
    )
    kernel.execute("%agent Compute the answer")
    waited = kernel.text("%agent --wait --timeout 40", timeout=60)
    assert "the agent is waiting for you: %approve r1 runs its code, %deny r1 refuses" in waited
    assert kernel.text("%approve r1").strip() == "request r1 approved"
    assert kernel.text("%agent --wait --timeout 40", timeout=60) == ""
    assert kernel.text("answer") == "42"

    kernel.text("%agent --allow-code")
    kernel.execute("%agent Add one")
    assert kernel.text("%agent --wait --timeout 40", timeout=60) == ""  # ran while it waited
    assert kernel.text("answer") == "43"
    assert "Now 43." in kernel.text("%ledger --text")


def test_the_interrupt_button_stops_code_the_agent_runs_while_a_cell_waits(start_kernel, script) -> None:
    kernel = start_kernel(
        script(
            [
                _run_python("import time\nprint('working', flush=True)\ntime.sleep(60)", "A long one."),
                {"delay": 0.1, "text": "That was stopped."},
                {"delay": 0.1, "text": "Still here."},
            ]
        )
    )
    kernel.text("%agent --allow-code")
    view = kernel.view_of(kernel.execute("%agent Run the long job"))
    cell = kernel.execute("%agent --wait --timeout 50", stop_on_error=False)
    kernel.wait_view(view, lambda text: "run_python" in text)
    kernel.km.interrupt_kernel()
    assert kernel.reply(cell, timeout=20)["content"]["status"] == "ok"
    kernel.idle(cell)
    assert "stopped waiting; the agent was interrupted" in "".join(
        m["content"].get("text", "") for m in kernel.outputs(cell)
    )
    assert kernel.text("1 + 1") == "2"
    # The agent heard that its code was stopped, and goes on.
    kernel.execute("%agent Are you there?")
    assert kernel.text("%agent --wait --timeout 20", timeout=30) == ""
    ledger = kernel.text("%ledger --text")
    assert "CodeInterrupted: stopped with the interrupt button" in ledger
    assert "agent work failed" not in "".join(m["content"].get("text", "") for m in kernel.messages)


def test_the_magics_load_into_a_plain_ipython_kernel(start_kernel, script) -> None:
    long_answer = " ".join(f"w{i}" for i in range(400))
    kernel = start_kernel(
        script([{"delay": 0.2, "text": "Hello from a plain kernel."}, {"delay": 60, "text": long_answer}]),
        name="python3",
    )
    assert kernel.kc.kernel_info(reply=True)["content"]["implementation"] == "ipython"
    kernel.text("%load_ext ipyagent")
    view = kernel.view_of(kernel.execute("%agent hi"))
    assert "Hello from a plain kernel." in kernel.wait_view(view, lambda text: "main: idle" in text)
    # Its stop button sends SIGINT: an idle kernel hands it to the agent.
    view = kernel.view_of(kernel.execute("%agent Talk for a minute"))
    kernel.wait_view(view, lambda text: "w3" in text)
    kernel.km.interrupt_kernel()
    final = kernel.wait_view(view, lambda text: "■ interrupted" in text, timeout=20)
    assert "stopped with the Jupyter interrupt button" in final
    # A running cell is still stopped as usual, and the kernel lives on. (Not stop_on_error: the
    # kernel would abort a request that arrives in the moment after the error, a race here.)
    cell = kernel.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(30)", stop_on_error=False)
    kernel.wait_for(lambda m: m["parent_header"].get("msg_id") == cell and m["msg_type"] == "stream")
    kernel.km.interrupt_kernel()
    assert kernel.reply(cell, timeout=20)["content"]["ename"] == "KeyboardInterrupt"
    assert kernel.text("1 + 1") == "2"


def test_the_first_agent_cell_loads_no_library_it_does_not_need(start_kernel, script) -> None:
    """The first %agent starts the agent and its built-in tools (and run_python). None of them
    may pull in a library that costs seconds to import: jsonschema with its format checkers once
    made every kernel's first %agent cell take over 3 s."""
    kernel = start_kernel(script([{"delay": 0.1, "text": "Hello."}]))
    view = kernel.view_of(kernel.execute("%agent hi"))
    assert "Hello." in kernel.wait_view(view, lambda text: "main: idle" in text)
    assert "run_python" in kernel.text("%tools")
    heavy = ("jsonschema", "lark", "llama_cpp", "faster_whisper")
    loaded = kernel.text(f"import sys; sorted(m for m in {heavy!r} if m in sys.modules)")
    assert loaded == "[]"


def test_install_cli_registers_the_kernelspec(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    # Not imported from conftest: other test folders have a conftest module of their own.
    src = Path(__file__).resolve().parents[2] / "src"
    result = subprocess.run(
        [sys.executable, "-m", "ipyagent", "install", "--prefix", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert "installed the kernelspec 'ipyagent' (Python 3 (ipyagent))" in result.stdout
    spec = json.loads((tmp_path / "share/jupyter/kernels/ipyagent/kernel.json").read_text())
    assert spec["display_name"] == "Python 3 (ipyagent)"
    assert spec["interrupt_mode"] == "message"
    assert spec["argv"][1:3] == ["-m", "ipyagent.kernel"]
