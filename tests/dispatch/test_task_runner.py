"""The task runner as a tool's author and the views see it: task ids, live progress (shown in the
views and the model's status, a notification only when asked), what a result or an error looks
like to the model, cancellation reasons, and a history that stays bounded. On a virtual clock."""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from ipyagent import events as ev
from ipyagent.dispatch.tasks import (
    KEEP_ENDED_TASKS,
    MAX_PROGRESS_CHARS,
    MAX_RESULT_CHARS,
    BackgroundTask,
    TaskRunner,
    error_text,
    progress,
    result_text,
)
from ipyagent.ledger.render.context import PendingTask
from ipyagent.testing import VirtualClock


@dataclass
class Seen:
    posted: list[ev.Event] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)  # (task id, status) at each change


@asynccontextmanager
async def running_runner() -> AsyncIterator[tuple[TaskRunner, Seen, VirtualClock]]:
    seen = Seen()
    async with VirtualClock() as clock, anyio.create_task_group() as tg:
        runner = TaskRunner(
            clock=clock,
            post=seen.posted.append,
            on_change=lambda t: seen.changes.append((t.task_id, t.status)),
        )
        runner.attach(tg)
        yield runner, seen, clock
        tg.cancel_scope.cancel()


def returning(
    value: Any, clock: VirtualClock | None = None, after: float = 0.0
) -> Callable[[], Awaitable[Any]]:
    async def work() -> Any:
        if clock is not None:
            await clock.sleep(after)
        return value

    return work


async def settle(clock: VirtualClock, seconds: float = 0.01) -> None:
    await clock.sleep(seconds)


async def test_a_runner_that_is_not_running_refuses_to_start_a_task() -> None:
    async with VirtualClock() as clock:
        runner = TaskRunner(clock=clock, post=lambda _: None)
        with pytest.raises(RuntimeError, match=r"^the task runner is not running$"):
            runner.start("crawl", "tool", returning(1))


async def test_each_task_ends_with_one_notification_and_the_views_hear_of_start_and_end() -> None:
    async with running_runner() as (runner, seen, clock):
        names: list[str] = []

        async def work() -> str:
            names.append(asyncio.current_task().get_name())  # type: ignore[union-attr]
            await clock.sleep(2)
            return "42"

        task = runner.start("lookup", "tool", work, arguments={"q": "x"}, call_id="c7")
        assert (task.task_id, task.call_id, task.arguments) == ("t1", "c7", {"q": "x"})
        assert seen.changes == [("t1", "running")]
        assert not runner.idle
        await clock.sleep(1)
        assert runner.pending() == [PendingTask("t1", "lookup", 1.0)]
        await clock.sleep(1.5)
        assert (task.status, task.result, task.finished) == ("done", "42", 2.0)
        assert seen.changes == [("t1", "running"), ("t1", "done")]
        [note] = seen.posted
        assert isinstance(note, ev.ToolResult)
        assert (note.text, note.task_id, note.name) == ("42", "t1", "lookup")
        assert note.finished == pytest.approx(clock.wall() - 0.5)
        assert runner.idle and runner.pending() == []
        # A stack dump of a stuck session names the task.
        assert names == ["task t1 lookup"]


async def test_progress_is_shown_live_and_notifies_only_when_asked() -> None:
    async with running_runner() as (runner, seen, clock):
        said: list[bool] = []

        async def crawl() -> str:
            said.append(progress("pages", done=3, total=10))
            await clock.sleep(1)
            progress("  two\n  words  ")
            await clock.sleep(1)
            progress("x" * MAX_PROGRESS_CHARS)
            await clock.sleep(1)
            progress("y" * (MAX_PROGRESS_CHARS + 1))
            await clock.sleep(1)
            progress("found one", notify=True)
            await clock.sleep(1)
            progress(done=9)
            await clock.sleep(10)
            return "done"

        runner.start("crawl", "tool", crawl)
        await clock.sleep(0.5)
        assert said == [True]
        [task] = runner.running()
        assert runner.pending() == [PendingTask("t1", "crawl", 0.5, "pages (3 of 10)", 0.5)]
        assert seen.posted == []  # an ordinary report reaches the views, not the dialog
        assert seen.changes[-1] == ("t1", "running") and len(seen.changes) == 2
        await clock.sleep(1)
        assert task.progress is not None and task.progress.text == "two words"
        await clock.sleep(1)
        assert task.progress.text == "x" * MAX_PROGRESS_CHARS
        await clock.sleep(1)
        assert task.progress.text == "y" * (MAX_PROGRESS_CHARS - 1) + "…"
        await clock.sleep(1)
        [note] = seen.posted
        assert isinstance(note, ev.ToolProgress)
        assert (note.text, note.task_id, note.name) == ("progress: found one", "t1", "crawl")
        assert note.finished == pytest.approx(clock.wall())
        await clock.sleep(1)
        assert task.progress.text == "9"
        assert len(seen.posted) == 1
        assert progress("outside any task") is False


async def test_a_report_that_is_not_text_and_finite_numbers_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_runner() as (runner, seen, clock):
        task = runner.start("crawl", "tool", returning("ok", clock, after=5))
        await settle(clock)
        runner.report(task, "half", done=1, total=2)
        for bad in ({"done": float("nan")}, {"total": float("inf")}, {"done": True}, {"done": "3"}):
            with caplog.at_level(logging.WARNING, logger="ipyagent.dispatch.tasks"):
                runner.report(task, "bad", **bad)
            assert task.progress is not None and task.progress.text == "half (1 of 2)"
        runner.report(task, 3)  # type: ignore[arg-type]
        assert task.progress is not None and task.progress.text == "half (1 of 2)"
        assert caplog.messages[-1] == "task t1: progress needs a text and finite numbers; ignored"
        assert len(caplog.messages) == 5
        runner.report(task, done=2)
        assert task.progress.text == "2"
        task.report(done=3)
        assert task.progress.text == "3"
        assert seen.posted == []


async def test_reports_from_a_worker_thread_arrive_and_reports_after_the_end_are_dropped() -> None:
    async with running_runner() as (runner, seen, clock):
        release = threading.Event()

        def blocking() -> str:
            progress("from the thread", done=1, notify=True)
            release.wait(10)
            return "ok"

        async def work() -> str:
            return await anyio.to_thread.run_sync(blocking)

        task = runner.start("sync_tool", "tool", work)
        for _ in range(200):
            if task.progress is not None:
                break
            await anyio.to_thread.run_sync(threading.Event().wait, 0.01)
            await settle(clock)
        assert task.progress is not None and task.progress.text == "from the thread (1)"
        assert [type(e) for e in seen.posted] == [ev.ToolProgress]
        release.set()
        while task.running:
            await anyio.to_thread.run_sync(threading.Event().wait, 0.01)
        await settle(clock)
        task.report("too late", notify=True)
        assert task.progress.text == "from the thread (1)"
        assert [type(e) for e in seen.posted] == [ev.ToolProgress, ev.ToolResult]


async def test_a_report_from_another_thread_before_the_runner_runs_is_dropped_quietly() -> None:
    async with VirtualClock() as clock:
        runner = TaskRunner(clock=clock, post=lambda _: None)
        task = BackgroundTask("t1", "early", "tool", {}, 0.0, _reporter=runner.report)
        await anyio.to_thread.run_sync(lambda: task.report("hello", notify=True))
        assert task.progress is None


async def test_cancelling_says_why_and_an_ended_task_cannot_be_cancelled() -> None:
    async with running_runner() as (runner, seen, clock):
        first = runner.start("slow", "tool", returning("x", clock, after=60))
        second = runner.start("slow", "tool", returning("x", clock, after=60))
        await settle(clock)
        assert runner.cancel("t1", "the user asked") is True
        assert second.cancel("") is True
        await settle(clock)
        texts = [e.text for e in seen.posted]
        assert texts == ["cancelled (the user asked)", "cancelled (no reason given)"]
        assert all(isinstance(e, ev.ToolCancelled) for e in seen.posted)
        assert (first.status, second.status) == ("cancelled", "cancelled")
        assert first.cancel("again") is False
        assert runner.cancel("t1", "again") is False
        assert runner.cancel("t99", "no such task") is False


async def test_a_wind_down_marks_running_tasks_cancelled_when_they_stop() -> None:
    seen = Seen()
    async with VirtualClock() as clock:
        async with anyio.create_task_group() as tg:
            runner = TaskRunner(
                clock=clock,
                post=seen.posted.append,
                on_change=lambda t: seen.changes.append((t.task_id, t.status)),
            )
            runner.attach(tg)
            task = runner.start("slow", "tool", returning("x", clock, after=60))
            await clock.sleep(3)
            tg.cancel_scope.cancel()
        assert (task.status, task.finished) == ("cancelled", 3.0)
        assert seen.changes[-1] == ("t1", "cancelled")
        assert seen.posted == []  # the agent records what its wind-down cancels
        assert runner.idle


async def test_a_resumed_ledger_numbers_new_tasks_after_its_highest() -> None:
    async with running_runner() as (runner, _seen, _clock):
        runner.continue_after(["t3", "t12", "x99", "t", "tx7", "t7"])
        assert runner.start("a", "tool", returning(1)).task_id == "t13"
        runner.continue_after(["a1", "b2"])
        assert runner.start("b", "tool", returning(1)).task_id == "t1"
        runner.continue_after([])
        assert runner.start("c", "tool", returning(1)).task_id == "t1"


async def test_the_task_history_keeps_the_latest_ended_tasks_only() -> None:
    async with running_runner() as (runner, _seen, clock):
        for _ in range(KEEP_ENDED_TASKS + 1):
            runner.start("quick", "tool", returning(1))
        await settle(clock)
        assert runner.get("t1") is None
        assert runner.get("t2") is not None
        assert len(runner.tasks) == KEEP_ENDED_TASKS
        assert runner.idle


def test_results_as_the_model_sees_them() -> None:
    assert result_text(None) == "done (no output)"
    assert result_text(b"ab\x00") == "b'ab\\x00'"
    assert result_text({"city": "Zürich", "t": 21.5}) == '{"city": "Zürich", "t": 21.5}'
    when = datetime.date(2026, 11, 30)
    assert result_text({"when": when}) == '{"when": "datetime.date(2026, 11, 30)"}'
    assert result_text({(1, 2): "pair"}) == "{(1, 2): 'pair'}"  # not JSON: its repr

    class Unshowable:
        def __repr__(self) -> str:
            raise ValueError("no repr\nsecond line")

    assert result_text(Unshowable()) == "(a Unshowable that cannot be shown: ValueError: no repr)"
    # Bytes: whole while their repr fits, cut (and counted in bytes) beyond.
    fits = b"a" * (MAX_RESULT_CHARS // 4)
    assert result_text(fits) == repr(fits)
    cut = result_text(b"a" * (MAX_RESULT_CHARS // 4 + 1))
    assert cut.startswith("b'" + "a" * 3998) and cut.endswith(
        f"of {MAX_RESULT_CHARS // 4 + 1:,} bytes are shown]"
    )


def test_an_error_is_one_line_naming_its_type() -> None:
    assert error_text(ValueError("bad city\nTraceback: more")) == "ValueError: bad city"
    assert error_text(KeyError()) == "KeyError"
    assert error_text(RuntimeError("   ")) == "RuntimeError"
    assert error_text(OSError("  disk full  ")) == "OSError: disk full"


async def test_a_servers_progress_line_is_shown_as_it_came() -> None:
    async with running_runner() as (runner, seen, clock):
        task = runner.start("mcp_copy", "tool", returning("ok", clock, after=5))
        await settle(clock)
        runner.report_progress(task, "3/10: copying")
        assert task.progress is not None and task.progress.text == "3/10: copying"
        assert seen.posted == []
