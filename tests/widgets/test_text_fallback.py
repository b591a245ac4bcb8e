"""Where widgets cannot render (a headless run, nbconvert), each widget's output is readable text."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    """
from ipyagent import Agent, RealClock, tool, current_clock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.widgets import ledger_view, notifications, chat_box, agent_tree, timeline, state_indicator

@tool
async def lookup(query: str) -> str:
    "Look something up."
    await current_clock().sleep(0.05)
    return f"found {query}"

clock = RealClock()
script = [
    {"delay": 0.05, "text": "Looking.", "tool_calls": [{"name": "lookup", "arguments": {"query": "x"}}]},
    {"delay": 0.05, "text": "Found x."},
]
agent = Agent(ScriptedBackend.from_list(script, clock), tools=[lookup], clock=clock)
await agent.send("find x")
await agent.settled()
""",
    "ledger_view(agent)",
    "notifications(agent)",
    "chat_box(agent)",
    "agent_tree(agent)",
    "state_indicator(agent)",
    "timeline(agent)",
]


@pytest.mark.slow
def test_every_widget_shows_readable_text_in_a_headless_run_and_in_nbconvert(tmp_path: object) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    texts = [cell.outputs[0]["data"]["text/plain"] for cell in nb.cells[1:]]
    ledger, feed, chat, tree, state, line = texts
    assert ledger.splitlines()[0] == "ledger of main (idle): 7 entries"
    assert [row.split()[1:] for row in ledger.splitlines()[1:]] == [
        ["user", "find", "x"],
        ["assistant", "Looking."],
        ["tool_call", "lookup(query='x')"],
        ["tool_result", "lookup", "started", "as", "t1"],
        ["notification", "[tool_result", "t1", "lookup]", "found", "x"],
        ["assistant", "Found", "x."],
    ]
    assert "[tool_result t1 lookup] found x" in feed
    assert chat.splitlines()[1:] == ["  you: find x", "  main: Looking.", "  main: Found x."]
    assert tree == "main  idle"  # one word: its state while it runs
    assert state == "main: idle (running)"
    assert "t1 lookup" in line
    # Opened after the work, it starts when the agent did: its earlier states are there.
    assert re.search(r"t1 lookup +done 0\.\d\d–0\.\d\d", line)
    assert re.search(r"main +idle 0\.00–0\.\d\d, generating 0\.\d\d–", line)

    nbconvert = pytest.importorskip("nbconvert")
    markdown, _ = nbconvert.MarkdownExporter().from_notebook_node(nb)
    assert "[tool_result t1 lookup] found x" in markdown
    assert "you: find x" in markdown
