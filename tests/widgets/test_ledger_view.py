"""The ledger view's messages: a view can rebuild the ledger exactly from them (the entries it
shows: not the system message, nor an empty answer), rows come by position on request, filters
and searches run in the kernel, tool calls carry their status, token bursts are coalesced, and a
sub-agent can be followed."""

from __future__ import annotations

from typing import Any

from ipyagent import Agent, State, current_clock, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.ledger.text import is_empty_answer
from ipyagent.testing import VirtualClock, wait_for, wait_for_state
from ipyagent.throttle import ClockTimer
from ipyagent.widgets import chat_box, ledger_view


@tool
async def slow_lookup(query: str) -> str:
    "Look something up (slow)."
    await current_clock().sleep(10)
    return f"found {query}"


class Screen:
    """What a view holds after applying the messages, as the ES module does."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.live: dict[str, Any] | None = None
        self.path = ""
        self.state = ""
        self.synced = False  # a view shows nothing until its first reset

    def apply(self, messages: list[dict[str, Any]]) -> Screen:
        for m in messages:
            if m["type"] == "reset":
                self.rows, self.calls, self.path, self.synced = {}, {}, m["path"], True
                self.positions: dict[int, int] = {}
            if m["type"] in ("reset", "rows", "batch") and self.synced:
                for r in m["rows"]:
                    assert self.positions.setdefault(r["p"], r["i"]) == r["i"], "two rows at one place"
                    self.rows[r["i"]] = r
                self.calls.update({c["call_id"]: c for c in m.get("calls", [])})
                self.shown = m.get("shown", getattr(self, "shown", 0))
            if m["type"] == "batch" and self.synced:
                self.live, self.state = m["live"], m["state"]
        return self


def shown(ledger: Any) -> list[str]:
    """The texts of the entries a view shows by default."""
    return [e.text for e in ledger if e.kind != "system" and not is_empty_answer(e)]


def script(clock: VirtualClock) -> ScriptedBackend:
    return ScriptedBackend.from_list(
        [
            {
                "delay": 1,
                "text": "Looking it up.",
                "tool_calls": [{"name": "slow_lookup", "arguments": {"query": "x"}}],
            },
            {"delay": 1, "text": "Found it."},
        ],
        clock,
    )


async def test_rows_and_tool_status_arrive_live_and_rebuild_the_ledger(wire: Any) -> None:
    async with VirtualClock() as clock, Agent(script(clock), tools=[slow_lookup], clock=clock) as agent:
        view = ledger_view(agent, timer=ClockTimer(clock))
        sent = wire(view)
        view._receive(view, {"type": "sync"}, [])
        await agent.send("find x")
        await wait_for(agent, lambda: any(e.kind == "tool_result" for e in agent.ledger))
        await clock.sleep(0.1)

        screen = Screen().apply(sent.custom())
        kinds = [screen.rows[i]["kind"] for i in sorted(screen.rows)]
        assert kinds == ["user", "assistant", "tool_call", "tool_result"]
        call = screen.rows[3]
        assert call["name"] == "slow_lookup"
        assert '"query": "x"' in call["args"]
        assert screen.calls[call["call_id"]]["status"] == "running"

        await agent.settled()
        await clock.sleep(0.1)
        screen = Screen().apply(sent.custom())
        assert [screen.rows[i]["text"] for i in sorted(screen.rows)] == shown(agent.ledger)
        done = screen.calls[call["call_id"]]
        assert done["status"] == "done"
        assert done["duration"] == 10
        assert done["result"] == "found x"
        assert screen.state == "idle"
        assert screen.live is None


async def test_a_token_stream_is_coalesced_to_about_30_messages_a_second(wire: Any) -> None:
    words = " ".join(f"w{i}" for i in range(600))  # 600 tokens in 2 s: 300 a second

    async def messages_during_stream(interval: float) -> tuple[int, str]:
        async with VirtualClock() as clock:
            backend = ScriptedBackend.from_list([{"delay": 2.0, "text": words}], clock)
            async with Agent(backend, clock=clock) as agent:
                view = ledger_view(agent, timer=ClockTimer(clock), interval=interval)
                sent = wire(view)
                view._receive(view, {"type": "sync"}, [])
                await agent.send("talk")
                await wait_for_state(agent, State.GENERATING)
                before = len(sent.custom())
                await clock.sleep(1.999)
                live = Screen().apply(sent.custom()).live
                count = len(sent.custom()) - before
                await agent.settled()
                return count, live["text"] if live else ""

    coalesced, text = await messages_during_stream(1 / 30)
    every, _ = await messages_during_stream(0)
    assert every >= 590
    assert 55 <= coalesced <= 62
    assert text.startswith("w0 w1 w2 ") and len(text.split()) >= 590  # the last batch is current


async def test_following_a_sub_agent_shows_its_ledger_with_the_shared_prefix(wire: Any) -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 0.1, "text": "Hello."}, {"agent": "kid", "delay": 0.5, "text": "Kid's answer."}], clock
        )
        async with Agent(backend, clock=clock) as agent:
            view = ledger_view(agent, timer=ClockTimer(clock))
            sent = wire(view)
            await agent.send("hi")
            await agent.settled()
            kid = agent.fork("help out", name="kid")
            await wait_for(agent, lambda: kid.status == "done")
            view._receive(view, {"type": "follow", "path": "main/kid"}, [])
            assert view.path == "main/kid"
            screen = Screen()
            screen.apply(sent.custom())
            assert screen.path == "main/kid"
            assert [screen.rows[i]["text"] for i in sorted(screen.rows)] == shown(kid.ledger)
            assert screen.rows[len(kid.ledger) - 1]["text"] == "Kid's answer."
            resets = sent.custom("reset")
            assert resets[-1]["agents"] == ["main", "main/kid"]


async def test_bad_messages_from_the_browser_get_a_one_line_error(wire: Any) -> None:
    async with VirtualClock() as clock:
        agent = Agent(script(clock), clock=clock)
        view = ledger_view(agent, timer=ClockTimer(clock))
        sent = wire(view)
        for bad in (
            {"type": "follow"},
            {"type": "explode"},
            ["not", "a", "dict"],
            {"type": "follow", "path": "x"},
        ):
            view._receive(view, bad, [])
        errors = [m["text"] for m in sent.custom("error")]
        again = "reload the page if this repeats"
        assert errors == [
            f"refused a 'follow' message from the browser: 'path' must be a string, not missing; {again}",
            "refused a 'explode' message from the browser: this widget takes bye, filter, follow, hello, "
            "sync, window; " + again,
            f"refused a message from the browser: a list, not an object; {again}",
            "no agent 'x' under 'main'; its agents are: main",
        ]
        assert view.path == "main"


def test_long_texts_are_clipped_and_counted() -> None:
    from ipyagent.ledger import Entry
    from ipyagent.widgets.wire import TEXT_LIMIT, row

    r = row(Entry("user", "x" * (TEXT_LIMIT + 5), time=1.0, index=3, source="chat"))
    assert len(r["text"]) == TEXT_LIMIT
    assert r["more"] == 5
    assert r["i"] == 3
    assert r["source"] == "chat"
    assert "name" not in r


async def test_once_every_view_is_gone_nothing_is_sent_until_one_comes_back(wire: Any) -> None:
    words = " ".join(f"w{i}" for i in range(100))
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 2.0, "text": words}, {"delay": 0.5, "text": "Again."}], clock
        )
        async with Agent(backend, clock=clock) as agent:
            view = ledger_view(agent, timer=ClockTimer(clock))
            chat = chat_box(agent, timer=ClockTimer(clock))
            sent, chat_sent = wire(view), wire(chat)
            for w in (view, chat):  # a view appeared, then its output was cleared
                w._receive(w, {"type": "hello"}, [])
                w._receive(w, {"type": "bye"}, [])
            await agent.send("talk")
            await agent.settled()
            await clock.sleep(0.1)
            assert sent.messages == [] and chat_sent.messages == []
            # A view comes back: the chat box gets the current state at once, the ledger on sync.
            chat._receive(chat, {"type": "hello"}, [])
            assert chat.lines[-1]["text"] == words
            view._receive(view, {"type": "hello"}, [])
            view._receive(view, {"type": "sync"}, [])
            await agent.send("again")
            await agent.settled()
            await clock.sleep(0.1)
            screen = Screen().apply(sent.custom())
            assert [screen.rows[i]["text"] for i in sorted(screen.rows)] == shown(agent.ledger)


async def test_a_view_of_a_sub_agent_follows_only_within_its_own_subtree(wire: Any) -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 0.1, "text": "Hello."}, {"agent": "kid", "delay": 0.5, "text": "Kid's answer."}], clock
        )
        async with Agent(backend, clock=clock) as agent:
            await agent.send("hi")
            await agent.settled()
            kid = agent.fork("help out", name="kid")
            view = ledger_view(kid, timer=ClockTimer(clock))
            sent = wire(view)
            view._receive(view, {"type": "follow", "path": "main"}, [])
            assert [m["text"] for m in sent.custom("error")] == [
                "no agent 'main' under 'main/kid'; its agents are: main/kid"
            ]
            view._receive(view, {"type": "sync"}, [])
            assert sent.custom("reset")[-1]["agents"] == ["main/kid"]
            await wait_for(agent, lambda: kid.status == "done")
            await clock.sleep(0.1)
            screen = Screen().apply(sent.custom())
            assert screen.rows[len(kid.ledger) - 1]["text"] == "Kid's answer."


async def test_a_view_gets_rows_by_position_and_the_kernel_filters_and_searches(wire: Any) -> None:
    """A long ledger: a reset brings only the newest rows, a window brings the rows asked for,
    and a filter or a search is done here, with the view kept where it was reading."""
    from ipyagent.widgets.ledger import FIRST

    async with VirtualClock() as clock:
        agent = Agent(script(clock), clock=clock)
        kinds = ["user", "assistant", "tool_call", "tool_result", "notification"]
        for i in range(5000):
            agent.ledger.append(
                kinds[i % 5], f"entry {i}" + (" needle" if i % 1000 == 7 else ""), time=float(i)
            )
        agent.ledger.append("assistant", "", time=5000.0, generation=9, status="complete")  # tool-only turn
        view = ledger_view(agent, timer=ClockTimer(clock))
        sent = wire(view)
        view._receive(view, {"type": "sync"}, [])
        [reset] = sent.custom("reset")
        assert reset["total"] == 5002 and reset["shown"] == 5000  # no system message, no empty answer
        assert reset["counts"]["assistant"] == 1000 and len(reset["rows"]) == FIRST
        assert [r["p"] for r in reset["rows"]] == list(range(5000 - FIRST, 5000))
        assert reset["rows"][-1]["text"] == "entry 4999"

        view._receive(view, {"type": "window", "start": 2500, "count": 5}, [])
        [rows] = sent.custom("rows")
        assert [(r["p"], r["text"]) for r in rows["rows"]] == [
            (2500 + k, f"entry {2500 + k}") for k in range(5)
        ]

        # Only tool calls, kept near entry 2500 where the user was reading.
        hidden = "system,user,assistant,tool_result,notification"
        view._receive(view, {"type": "filter", "hidden": hidden, "query": "", "anchor": 2501}, [])
        reset = sent.custom("reset")[-1]
        assert reset["shown"] == 1000
        assert reset["start"] == 500 and not reset["newest"]
        assert [r["text"] for r in reset["rows"] if r["p"] == 500] == ["entry 2502"]
        assert {r["kind"] for r in reset["rows"]} == {"tool_call"}

        # A search runs over the whole ledger, in the kernel.
        view._receive(view, {"type": "filter", "hidden": "system", "query": "NEEDLE"}, [])
        reset = sent.custom("reset")[-1]
        assert reset["shown"] == 5 and reset["query"] == "needle"
        assert [r["text"] for r in reset["rows"]] == [f"entry {i * 1000 + 7} needle" for i in range(5)]

        # An append that matches arrives at its place; one that does not only counts.
        agent.ledger.append("user", "another needle", time=6000.0)
        agent.ledger.append("user", "no match", time=6001.0)
        await clock.sleep(0.1)
        batch = sent.custom("batch")[-1]
        assert [(r["p"], r["text"]) for r in batch["rows"]] == [(5, "another needle")]
        assert batch["shown"] == 6 and batch["total"] == 5004 and batch["counts"]["user"] == 1002
