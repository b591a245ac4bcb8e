"""A running tool's progress, live in the cell view, the ledger view and the timeline; and how old
a held result was, in the cell view and the ledger view's rows."""

from __future__ import annotations

from ipyagent import Agent, current_clock, progress, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.kernel.views import entry_lines, task_status
from ipyagent.testing import VirtualClock
from ipyagent.widgets.timeline import Timeline
from ipyagent.widgets.wire import call_state, row


@tool
async def crawl(pages: int) -> str:
    "Crawl some pages."
    for n in range(1, pages + 1):
        await current_clock().sleep(10)
        progress("pages", done=n, total=pages)
    return f"{pages} pages"


async def test_progress_shows_in_every_view_while_the_tool_runs() -> None:
    async with VirtualClock() as clock:
        turns = [
            {"delay": 1, "text": "Crawling.", "tool_calls": [{"name": "crawl", "arguments": {"pages": 4}}]},
            {"delay": 20, "text": "While it runs, a long story about something else."},
            {"delay": 1, "text": "Done."},
        ]
        async with Agent(ScriptedBackend.from_list(turns, clock), tools=[crawl], clock=clock) as agent:
            timeline = Timeline(agent)
            await agent.send("crawl four pages")
            await clock.sleep(26)  # two reports: at 11 and 21
            task = agent.task("t1")
            assert task is not None and task.running
            assert task_status(agent, "t1") == "t1 running 25 s · pages (2 of 4) (5.0 s ago)"
            state = call_state(task, clock.now(), clock.wall())
            assert state is not None and (state["progress"], state["fraction"]) == ("pages (2 of 4)", 0.5)
            timeline.flush()
            assert "t1 crawl · pages (2 of 4)" in timeline.text()
            await agent.send("and now?")  # the story runs 22.5..42.5; the result comes at 41
            await agent.settled()
        note = next(e for e in agent.ledger.own if e.kind == "notification")
        done = call_state(task, clock.now(), clock.wall())
        assert done is not None and done["progress"] is None  # an ended task shows its result
        # Finished at 41, recorded when the story ended at 42.5 (the reply at 21 s into it).
        assert note.finished is not None and note.time - note.finished >= 1
        assert row(note)["finished"] == note.finished
        text = entry_lines(agent, [note])[0].text
        assert text.startswith("✉ t1 crawl: 4 pages · finished ") and text.endswith("before it was recorded")
