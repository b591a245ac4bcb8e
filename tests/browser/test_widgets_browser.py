"""The widgets in JupyterLab, in a real Chromium: what a user sees."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from ipyagent.testing.lab import JupyterLab
from support.labkit import no_cell_running, open_and_run, shot, wait_cells_done

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# The topmost ledger row at least partly in sight in a viewport (a JavaScript function of it).
FIRST_ROW_IN_SIGHT = (
    "v => [...v.querySelectorAll('.ipa-row')].find(r => r.getBoundingClientRect().bottom"
    " > v.getBoundingClientRect().top + 1)"
)

SETUP = """
from ipyagent import Agent, RealClock, tool, current_clock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.widgets import ledger_view, notifications, chat_box, agent_tree, timeline, state_indicator

@tool
async def slow_lookup(query: str, seconds: float) -> str:
    "Look something up (slow)."
    await current_clock().sleep(seconds)
    return f"found {query}"

clock = RealClock()

def scripted(turns):
    return ScriptedBackend.from_list(turns, clock)
"""


def test_ledger_rows_while_a_slow_tool_runs_and_a_notification_with_no_cell_running(
    lab: JupyterLab, page: Any
) -> None:
    script = [
        {
            "delay": 0.3,
            "text": "Looking it up now.",
            "tool_calls": [{"name": "slow_lookup", "arguments": {"query": "x", "seconds": 4}}],
        },
        {"delay": 0.3, "text": "Found x: it is there."},
    ]
    url = lab.write_notebook(
        "ledger.ipynb",
        [
            SETUP + f"agent = Agent(scripted({script!r}), tools=[slow_lookup], clock=clock)",
            "state_indicator(agent)",
            "ledger_view(agent)",
            "notifications(agent)",
            "timeline(agent)",
            'await agent.send("Look up x for me")',
        ],
    )
    open_and_run(page, url, 6)
    wait_cells_done(page, 6)
    ledger = page.locator(".ipa-ledger")
    running = ledger.locator(".ipa-row[data-kind='tool_call'][data-status='running']")
    running.wait_for(timeout=10_000)
    assert "slow_lookup" in running.inner_text()
    assert 'query="x"' in running.inner_text()
    # The rows so far, in order, while the tool runs.
    kinds = ledger.locator(".ipa-row").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert kinds == ["user", "assistant", "tool_call", "tool_result"]
    assert page.locator(".ipa-notifications .ipa-note").count() == 0
    shot(page, "ledger-tool-running")

    # The tool finishes four seconds later, with no cell running: the notification arrives.
    note = page.locator(".ipa-notifications .ipa-note[data-source='tool_result']")
    note.wait_for(timeout=15_000)
    assert no_cell_running(page)
    assert "found x" in note.inner_text()
    ledger.locator(".ipa-row[data-kind='tool_call'][data-status='done']").wait_for(timeout=5_000)
    ledger.locator(".ipa-row[data-kind='assistant']", has_text="Found x: it is there.").wait_for(
        timeout=10_000
    )
    page.locator(".ipa-indicator .ipa-state[data-state='idle']").wait_for(timeout=10_000)
    # The timeline drew the tool's span and the agent's states.
    task = page.locator(".ipa-timeline g[data-kind='task'] rect[data-value='done']")
    task.wait_for(timeout=5_000)
    assert page.locator(".ipa-timeline g[data-kind='state'] rect[data-value='generating']").count() == 2

    # Expanding the tool call shows its arguments and its result; filtering hides a role.
    ledger.locator(".ipa-row[data-kind='tool_call']").click()
    detail = ledger.locator(".ipa-row.ipa-open .ipa-detail")
    assert '"query": "x"' in detail.inner_text()
    assert "found x" in detail.inner_text()
    ledger.locator(".ipa-chip[data-kind='tool_result']").click()  # filtered in the kernel
    ledger.locator(".ipa-chip.ipa-off[data-kind='tool_result']").wait_for(timeout=5_000)
    page.wait_for_function(
        "() => !document.querySelector(\".ipa-ledger .ipa-row[data-kind='tool_result']\")", timeout=5_000
    )
    shot(page, "ledger-notification-arrived")


def test_typing_in_the_chat_box_during_generation_interrupts(lab: JupyterLab, page: Any) -> None:
    story = " ".join(f"word{i}" for i in range(80))
    script = [{"delay": 12.0, "text": story}, {"delay": 0.5, "text": "Short version: they lived happily."}]
    url = lab.write_notebook(
        "chat.ipynb",
        [
            SETUP + f"agent = Agent(scripted({script!r}), clock=clock)",
            "chat = chat_box(agent)\nchat",
            "ledger_view(agent)",
            'await agent.send("Tell me a long story")',
        ],
    )
    open_and_run(page, url, 4)
    wait_cells_done(page, 4)
    chat = page.locator(".ipa-chat")
    chat.locator(".ipa-state[data-state='generating']").wait_for(timeout=10_000)
    chat.locator(".ipa-msg.ipa-r-live", has_text="word3").wait_for(timeout=10_000)
    box = chat.locator("textarea")
    box.click()
    box.type("Stop, make it short")
    box.press("Enter")
    # Handled at once: the ledger shows the interruption marker after what was actually said.
    marker = page.locator(".ipa-ledger .ipa-row[data-kind='interruption']")
    marker.wait_for(timeout=5_000)
    assert "the user sent a new message" in marker.inner_text()
    cut = page.locator(".ipa-ledger .ipa-row[data-kind='assistant']").first
    assert "[interrupted]" in cut.inner_text()
    said = re.findall(r"word\d+", cut.inner_text())
    assert 3 <= len(said) < 80
    chat.locator(".ipa-msg[data-role='interruption']").wait_for(timeout=5_000)
    chat.locator(".ipa-msg[data-role='user']", has_text="Stop, make it short").wait_for(timeout=5_000)
    chat.locator(".ipa-msg[data-role='assistant']", has_text="Short version").wait_for(timeout=10_000)
    assert no_cell_running(page)
    shot(page, "chat-interrupted")

    # Clearing the outputs removes the views; the kernel hears them go and stops sending.
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").first.click()
    assert page.locator(".ipa-chat").count() == 0
    page.locator(".jp-CodeCell .jp-InputArea-editor").last.click()
    page.keyboard.type('print("views:", chat._views, chat.watched)')
    page.keyboard.press("Shift+Enter")
    page.locator(".jp-OutputArea-output", has_text="views: 0 False").wait_for(timeout=10_000)


def test_tree_shows_a_forked_child_follow_it_and_cancel_it(lab: JupyterLab, page: Any) -> None:
    script = [
        {"agent": "main", "delay": 0.2, "text": "Hello."},
        {
            "agent": "researcher",
            "delay": 0.3,
            "text": "Researching.",
            "tool_calls": [{"name": "slow_lookup", "arguments": {"query": "z", "seconds": 120}}],
        },
        {"agent": "main", "delay": 0.2, "text": "The researcher was stopped."},
    ]
    url = lab.write_notebook(
        "tree.ipynb",
        [
            SETUP + f"agent = Agent(scripted({script!r}), tools=[slow_lookup], clock=clock)",
            "agent_tree(agent)",
            "ledger_view(agent)",
            "notifications(agent)",
            'await agent.send("hi")\nawait agent.settled()\n'
            'kid = agent.fork("research z", name="researcher")',
        ],
    )
    open_and_run(page, url, 5)
    wait_cells_done(page, 5)
    tree = page.locator(".ipa-tree")
    child = tree.locator(".ipa-node[data-path='main/researcher']")
    child.wait_for(timeout=10_000)
    assert "fork" in child.inner_text()
    assert "research z" in child.inner_text()
    tree.locator(
        ".ipa-node[data-path='main/researcher'][data-status='running']", has_text="1 tool call running"
    ).wait_for(timeout=10_000)

    # Follow the sub-agent from its link in the ledger: its own ledger, shared prefix included.
    ledger = page.locator(".ipa-ledger")
    ledger.locator(".ipa-row[data-kind='subagent'] .ipa-go").click()
    page.locator(".ipa-ledger[data-path='main/researcher']").wait_for(timeout=10_000)
    ledger.locator(".ipa-row[data-kind='tool_call'][data-status='running']", has_text="slow_lookup").wait_for(
        timeout=10_000
    )
    shot(page, "tree-forked-child")

    child.locator(".ipa-cancel").click()
    tree.locator(".ipa-node[data-path='main/researcher'][data-status='cancelled']").wait_for(timeout=10_000)
    ledger.locator(".ipa-row[data-kind='tool_call'][data-status='cancelled']").wait_for(timeout=10_000)
    report = page.locator(".ipa-notifications .ipa-note[data-source='subagent_report'][data-level='error']")
    report.wait_for(timeout=10_000)
    assert "did not finish" in report.inner_text()
    assert tree.locator(".ipa-node[data-path='main/researcher'] .ipa-cancel").count() == 0
    assert no_cell_running(page)
    shot(page, "tree-child-cancelled")


def test_a_ledger_of_10000_entries_is_virtualised_scrolls_filters_and_expands(
    lab: JupyterLab, page: Any
) -> None:
    # A ledger as a resumed session has it: tool calls whose tasks are gone, their end recorded.
    build = SETUP + (
        "agent = Agent(scripted([{'text': 'unused'}]), clock=clock)\n"
        "for i in range(9999):\n"
        "    kind = ['user', 'assistant', 'tool_call', 'tool_result', 'notification'][i % 5]\n"
        "    c, t = f'c{i - i % 5}', f't{i - i % 5}'\n"
        "    extra = {\n"
        "        'tool_call': {'name': 'lookup', 'arguments': {'n': i}, 'call_id': c},\n"
        "        'tool_result': {'name': 'lookup', 'call_id': c, 'task_id': t, 'status': 'started'},\n"
        "        'notification': {'name': 'lookup', 'task_id': t, 'source': 'tool_result'},\n"
        "    }.get(kind, {})\n"
        "    if i == 9996:  # what the backend noted about this answer\n"
        "        extra = {'usage': {'notes': ['tool lookup chosen by keyword']}}\n"
        "    agent.ledger.append(kind, f'entry {i}', time=clock.wall(), **extra)"
    )
    url = lab.write_notebook("big.ipynb", [build, "ledger_view(agent)"])
    open_and_run(page, url, 2)
    wait_cells_done(page, 2)
    ledger = page.locator(".ipa-ledger")
    ledger.locator(".ipa-count", has_text="9999 of 10000 entries").wait_for(timeout=20_000)
    # Only what is in sight is in the page, and the view starts at the newest entry.
    assert ledger.locator(".ipa-row").count() < 60
    ledger.locator(".ipa-row[data-i='9999']", has_text="lookup started as t9995").wait_for(timeout=5_000)
    # An answer's notes show on its row, as the ⓘ line of the cell view.
    notes = ledger.locator(".ipa-row[data-i='9997'] .ipa-notes")
    assert notes.inner_text() == "ⓘ tool lookup chosen by keyword"
    # Scrolling to the middle shows the middle (rows are 24 px; the system entry is hidden).
    ledger.locator(".ipa-viewport").evaluate("v => { v.scrollTop = 24 * 5000; }")
    ledger.locator(".ipa-row[data-i='5001']", has_text="entry 5000").wait_for(timeout=5_000)
    # Expanding a row makes room for it; the rows below move down, none overlap.
    ledger.locator(".ipa-row[data-i='5003']").click()
    detail = ledger.locator(".ipa-row.ipa-open .ipa-detail")
    assert '"n": 5002' in detail.inner_text()
    boxes = ledger.locator(".ipa-row").evaluate_all(
        "rows => rows.map(r => { const b = r.getBoundingClientRect(); return [b.top, b.bottom]; })"
    )
    assert all(a[1] <= b[0] + 0.5 for a, b in itertools.pairwise(boxes))
    # Filtering to tool calls: 2,000 rows, still only a screenful in the page, and the view stays
    # where the user was reading.
    for kind in ("user", "assistant", "tool_result", "notification"):
        ledger.locator(f".ipa-chip[data-kind='{kind}']").click()
    ledger.locator(".ipa-count", has_text="2000 of 10000 entries").wait_for(timeout=5_000)
    rows = ledger.locator(".ipa-row").evaluate_all("rows => rows.map(r => [r.dataset.kind, +r.dataset.i])")
    assert {kind for kind, _ in rows} == {"tool_call"}
    statuses = ledger.locator(".ipa-row").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert set(statuses) == {"done"}
    assert len(rows) < 60
    top = ledger.locator(".ipa-viewport").evaluate(f"v => ({FIRST_ROW_IN_SIGHT})(v).dataset.i")
    assert 5000 <= int(top) <= 5010
    shot(page, "ledger-10000-entries")
    # A search typed in the box runs in the kernel, within the kinds shown.
    ledger.locator(".ipa-search").fill("ENTRY 7777")
    ledger.locator(".ipa-count", has_text="1 of 10000 entries matching “entry 7777”").wait_for(timeout=10_000)
    assert ledger.locator(".ipa-row").evaluate_all("rows => rows.map(r => +r.dataset.i)") == [7778]


def test_a_ledger_taller_than_a_browser_allows_scrolls_in_proportion(lab: JupyterLab, page: Any) -> None:
    # Browsers cap an element's height (Firefox at ~17.9 million px: 750,000 rows); the view caps
    # its scrolled area (here at 60,000 px for 10,000 rows) and scrolls through the list in proportion.
    build = SETUP + (
        "agent = Agent(scripted([{'text': 'unused'}]), clock=clock)\n"
        "for i in range(9999):\n"
        "    agent.ledger.append('user', f'entry {i}', time=clock.wall())"
    )
    url = lab.write_notebook("tall.ipynb", [build, "ledger_view(agent, tallest=60_000)"])
    open_and_run(page, url, 2)
    wait_cells_done(page, 2)
    ledger = page.locator(".ipa-ledger")
    ledger.locator(".ipa-count", has_text="9999 of 10000 entries").wait_for(timeout=20_000)
    viewport = ledger.locator(".ipa-viewport")
    assert viewport.evaluate("v => v.scrollHeight") <= 60_000
    ledger.locator(".ipa-row[data-i='9999']", has_text="entry 9998").wait_for(timeout=5_000)

    def top_entry() -> int:
        """The entry of the first row in sight, once the view has drawn it after a scroll."""
        drawn = (
            f"v => {{ const r = ({FIRST_ROW_IN_SIGHT})(v);"
            " return r && r.dataset.i && !r.classList.contains('ipa-missing') ? r.dataset.i : null; }"
        )
        return int(page.wait_for_function(drawn, arg=viewport.element_handle(), timeout=5_000).json_value())

    viewport.evaluate("v => { v.scrollTop = (v.scrollHeight - v.clientHeight) / 2; }")
    assert 4900 <= top_entry() <= 5100
    viewport.evaluate("v => { v.scrollTop = 0; }")
    assert top_entry() == 1
    viewport.evaluate("v => { v.scrollTop = v.scrollHeight; }")
    ledger.locator(".ipa-row[data-i='9999']", has_text="entry 9998").wait_for(timeout=5_000)
    # The newest row is whole in sight at the bottom.
    inside = viewport.evaluate(
        "v => { const b = v.querySelector(\".ipa-row[data-i='9999']\").getBoundingClientRect();"
        " const o = v.getBoundingClientRect(); return b.top >= o.top - 1 && b.bottom <= o.bottom + 1; }"
    )
    assert inside
    shot(page, "ledger-taller-than-allowed")
