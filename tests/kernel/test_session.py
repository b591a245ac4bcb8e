"""The notebook session in-process: an IPython shell, the agent thread, a recording publisher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyagent.kernel.loop import AgentLoop, LoopTimeout, MainThreadInbox
from ipyagent.kernel.session import NotebookSession
from ipyagent.throttle import ManualTimer


class Recorder:
    """A publisher that keeps what it was asked to show."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def cell_started(self) -> None:
        pass

    def display(self, display_id: str, bundle: dict[str, Any]) -> None:
        self._add("display", display_id, bundle)

    def update(self, display_id: str, bundle: dict[str, Any]) -> None:
        self._add("update", display_id, bundle)

    def _add(self, kind: str, display_id: str, bundle: dict[str, Any]) -> None:
        with self.changed:
            self.sent.append((kind, display_id, bundle))
            self.changed.notify_all()

    def wait_text(self, display_id: str, needle: str, timeout: float = 20) -> str:
        def shown() -> str:
            texts = [b["text/plain"] for _, i, b in self.sent if i == display_id]
            return texts[-1] if texts else ""

        with self.changed:
            assert self.changed.wait_for(lambda: needle in shown(), timeout), shown()
            return shown()


@pytest.fixture
def session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[NotebookSession, Recorder, Path]]:
    monkeypatch.setenv("IPYAGENT_SESSION_DIR", str(tmp_path / "sessions"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "nb.ipynb"))
    shell = InteractiveShell.instance()
    recorder = Recorder()
    s = NotebookSession(shell, recorder)  # type: ignore[arg-type]
    yield s, recorder, tmp_path
    s.close()
    InteractiveShell.clear_instance()


def test_a_stream_of_tokens_is_coalesced_into_few_updates(session) -> None:
    s, recorder, tmp = session
    timer = ManualTimer()
    s.view_timer = timer  # the views' time stands still unless the test moves it
    words = " ".join(f"w{i}" for i in range(300))
    (tmp / "s.json").write_text(json.dumps([{"delay": 0.3, "text": words}]))
    s.set_model(f"scripted:{tmp / 's.json'}")
    view = s.send("many words please")
    assert s.wait(60) == "settled"
    updates = [b for kind, i, b in recorder.sent if i == view.display_id and kind == "update"]
    # 300 words, however long they took, within one interval of the views' time: one refresh,
    # sent when the waiting cell ended (and no other was due).
    assert len(updates) == 1
    assert updates[0]["text/plain"].splitlines()[0] == words
    assert "main: idle" in updates[0]["text/plain"]
    s.loop.call(lambda: timer.advance(1.0))
    assert len([x for x in recorder.sent if x[1] == view.display_id]) == 2  # nothing new to send


def test_the_session_file_is_created_on_first_use_and_named_after_the_notebook(session) -> None:
    s, _, tmp = session
    assert not (tmp / "sessions").exists()
    (tmp / "s.json").write_text(json.dumps([{"delay": 0, "text": "ok"}]))
    s.set_model(f"scripted:{tmp / 's.json'}")
    s.send("hi")
    assert s.wait(10)
    files = list((tmp / "sessions").glob("nb-*/*.sqlite"))
    assert files == [s.ledger_path]


def test_the_loop_reports_errors_and_timeouts_to_the_caller() -> None:
    loop = AgentLoop("test-loop")
    try:
        assert loop.call(lambda: threading.current_thread().name) == "test-loop"
        with pytest.raises(ZeroDivisionError):
            loop.call(lambda: 1 / 0)
        release = threading.Event()
        with pytest.raises(LoopTimeout, match=r"did not answer within 0\.05 s"):
            loop.call(lambda: release.wait(5), timeout=0.05)
        release.set()
        assert loop.call(lambda: "still serving") == "still serving"
    finally:
        loop.stop()
    assert not loop.running


def test_work_that_timed_out_is_cancelled_not_left_running() -> None:
    loop = AgentLoop("test-loop")
    outcome: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")

    try:
        with pytest.raises(LoopTimeout):
            loop.run(forever, timeout=0.05)
        # Whatever the loop had to do before now is done: the cancel reached the work.
        assert loop.call(lambda: list(outcome)) == ["cancelled"]
    finally:
        loop.stop()


def test_work_for_the_main_thread_runs_once_there_and_never_after_a_cancel() -> None:
    main_loop = asyncio.new_event_loop()  # the kernel's loop, held up by a cell: never run here
    inbox = MainThreadInbox(main_loop)
    loop = AgentLoop("test-loop")
    ran: list[str] = []

    def job() -> str:
        ran.append(threading.current_thread().name)
        return "done"

    try:
        # A cell that waits for the agent does the agent's main-thread work as it comes.
        assert loop.run(lambda: inbox.run(job), timeout=10, serve=inbox) == "done"
        assert ran == [threading.current_thread().name]
        main_loop.run_until_complete(asyncio.sleep(0))  # the loop's own turn finds nothing left
        assert len(ran) == 1

        # An interrupted agent stops waiting: its code must not run later, when the cell ends.
        async def ask_then_cancel() -> None:
            task = asyncio.ensure_future(inbox.run(job))
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        loop.run(ask_then_cancel)
        main_loop.run_until_complete(asyncio.sleep(0))
        inbox.serve_pending()
        assert len(ran) == 1
    finally:
        loop.stop()
        main_loop.close()


def test_a_widget_can_take_the_place_of_the_text_view(session) -> None:
    from ipyagent.kernel.views import ExchangeView

    s, recorder, tmp = session
    shown: list[str] = []
    done = threading.Event()

    class WidgetLike(ExchangeView):
        def open(self) -> None:
            self._opened = True
            self.loop.call_soon_threadsafe(self.changed)

        def flush(self) -> None:
            agent = self._agent()
            text = "".join(self.live.values())
            if agent is not None and self.start is not None:
                text = " | ".join(e.text for e in agent.ledger[self.start :] if e.kind == "assistant")
            shown.append(text)
            if "Widget answer." in text:
                done.set()

    s.exchange_view = WidgetLike
    (tmp / "s.json").write_text(json.dumps([{"delay": 0.05, "text": "Widget answer."}]))
    s.set_model(f"scripted:{tmp / 's.json'}")
    s.send("hello")
    assert done.wait(10), shown
    assert recorder.sent == []  # nothing went through the text view's display path


# --- the "Run" / "Don't run" buttons (clicks arrive through ipyagent.kernel.actions) -------------

CODE = "clicks.append(1)\nlen(clicks)"


def _asks_to_run_code(s: NotebookSession, tmp: Path) -> tuple[Any, Any]:
    s.shell.user_ns["clicks"] = []
    call = {"name": "run_python", "arguments": {"code": CODE}}
    (tmp / "s.json").write_text(
        json.dumps(
            [{"delay": 0, "text": "Let me count.", "tool_calls": [call]}, {"delay": 0, "text": "Done."}]
        )
    )
    s.set_model(f"scripted:{tmp / 's.json'}")
    view = s.send("count the clicks")
    assert s.wait(20) == "asking"
    [approval] = s.loop.call(s.code.pending)
    return view, approval


def _click(s: NotebookSession, approval: Any, *, yes: bool = True, digest: str | None = None) -> Any:
    from ipyagent.kernel.actions import handle

    msg = {
        "action": "answer",
        "request": approval.id,
        "yes": yes,
        "digest": digest or approval.digest,
        "seq": 7,
    }
    return handle(s, msg)


def test_a_click_on_run_runs_the_code_shown_once(session) -> None:
    s, recorder, tmp = session
    view, approval = _asks_to_run_code(s, tmp)
    shown = recorder.wait_text(view.display_id, "request r1")
    html = [b for _, i, b in recorder.sent if i == view.display_id][-1]["text/html"]
    assert 'data-ipyagent-action="approve"' in html and f'data-digest="{approval.digest}"' in html
    assert "clicks.append(1)" in shown
    # A click carrying another code's digest runs nothing.
    reply = _click(s, approval, digest="0" * 16)
    assert reply["ok"] is False and "other code" in reply["text"] and reply["seq"] == 7
    reply = _click(s, approval)
    assert reply == {"seq": 7, "ok": True, "text": "request r1 approved"}
    assert s.wait(20) == "settled"
    assert s.shell.user_ns["clicks"] == [1]
    again = _click(s, approval)
    assert again["ok"] is False and "already approved" in again["text"]
    assert s.shell.user_ns["clicks"] == [1]


def test_a_click_on_a_cancelled_request_does_nothing_and_says_why(session) -> None:
    s, recorder, tmp = session
    view, approval = _asks_to_run_code(s, tmp)
    s.cancel("main")
    recorder.wait_text(view.display_id, "request r1 (run_python): cancelled")
    reply = _click(s, approval)
    assert reply["ok"] is False
    assert "cancelled" in reply["text"] and "nothing ran" in reply["text"]
    shown = recorder.wait_text(view.display_id, "nothing ran — ask the agent again")
    assert "request r1 (run_python): cancelled" in shown
    assert s.shell.user_ns["clicks"] == []
    # Neither can a typed %approve bring it back.
    with pytest.raises(Exception, match="already cancelled"):
        s.answer(approval.id, True)


def test_clicks_that_break_the_contract_get_one_line_and_run_nothing(session) -> None:
    from ipyagent.kernel.actions import handle

    s, _, _ = session
    for msg in (
        {"action": "exec", "code": "import os"},
        {"action": "answer", "request": "r1; import os", "yes": True, "digest": "0" * 16},
        {"action": "answer", "request": "r1", "yes": "yes", "digest": "0" * 16},
        {"action": "answer", "request": "r9", "yes": True, "digest": "0" * 16},
        "approve r1",
    ):
        reply = handle(s, msg)
        assert reply["ok"] is False and "\n" not in reply["text"], reply
