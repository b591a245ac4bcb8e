"""The approval of code the agent wants to run, in-process: nothing runs before the user says yes,
a refusal runs nothing, and a bare %approve never guesses which request it means."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ipyagent.kernel.approval import Approval, CodeApprovals, SessionError, run_code
from ipyagent.kernel.loop import MainThreadInbox


class Rig:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self.placed: list[str] = []
        self.changes = 0
        self.approvals = CodeApprovals(
            MainThreadInbox(None), lambda: self.namespace, self.place, self.changed
        )
        self.run_python = self.approvals.tool().fn

    def place(self, approval: Approval) -> None:
        self.placed.append(approval.id)

    def changed(self) -> None:
        self.changes += 1


async def asked(rig: Rig, code: str) -> asyncio.Task[str]:
    """Start a run_python call and wait until it has asked the user."""
    before = len(rig.placed)
    task = asyncio.ensure_future(rig.run_python(code))
    for _ in range(100):
        await asyncio.sleep(0)
        if len(rig.placed) > before:
            return task
    raise AssertionError("the agent's code never asked for approval")


async def test_code_runs_only_after_the_user_approves() -> None:
    rig = Rig()
    task = await asked(rig, "x = 41\nx + 1")
    assert rig.placed == ["r1"]
    assert [a.id for a in rig.approvals.pending()] == ["r1"]
    assert "x" not in rig.namespace  # nothing ran yet
    assert rig.approvals.answer(None, True) == "request r1 approved"
    assert await task == "42"
    assert rig.namespace["x"] == 41
    assert rig.approvals.pending() == []
    assert rig.changes == 1


async def test_a_refusal_runs_nothing_and_tells_the_model() -> None:
    rig = Rig()
    task = await asked(rig, "pwned = True")
    assert rig.approvals.answer("r1", False) == "request r1 denied"
    with pytest.raises(PermissionError, match=r"did not allow running this code \(request r1\)"):
        await task
    assert "pwned" not in rig.namespace
    with pytest.raises(SessionError, match="request r1 was already denied"):
        rig.approvals.answer("r1", True)


async def test_a_bare_approve_needs_exactly_one_pending_request() -> None:
    rig = Rig()
    with pytest.raises(SessionError, match="say which request: pending requests: none"):
        rig.approvals.answer(None, True)
    first = await asked(rig, "a = 1")
    second = await asked(rig, "b = 2")
    with pytest.raises(SessionError, match="say which request: pending requests: r1, r2"):
        rig.approvals.answer(None, True)
    with pytest.raises(SessionError, match="no request 'r9'; pending: r1, r2"):
        rig.approvals.answer("r9", True)
    assert rig.approvals.answer("r2", True) == "request r2 approved"
    assert await second == "ran without output"
    assert rig.approvals.answer(None, False) == "request r1 denied"
    with pytest.raises(PermissionError):
        await first
    assert rig.namespace.get("b") == 2 and "a" not in rig.namespace


async def test_after_a_cancelled_request_a_bare_approve_does_not_guess() -> None:
    rig = Rig()
    old = await asked(rig, "old = 1")
    old.cancel()
    with pytest.raises(asyncio.CancelledError):
        await old
    assert rig.approvals.requests["r1"].status == "cancelled"
    new = await asked(rig, "new = 1")
    with pytest.raises(
        SessionError, match="request r1 was cancelled and r2 is a new one; read it, then %approve r2"
    ):
        rig.approvals.answer(None, True)
    assert "new" not in rig.namespace
    # Naming it is an answer to what the user read; after an answer, a bare %approve works again.
    assert rig.approvals.answer("r2", True) == "request r2 approved"
    await new
    third = await asked(rig, "third = 3")
    assert rig.approvals.answer(None, True) == "request r3 approved"
    await third
    assert rig.namespace["new"] == 1 and rig.namespace["third"] == 3


async def test_a_waiting_cell_hears_when_code_asks() -> None:
    rig = Rig()
    waiting = rig.approvals.asked()
    task = await asked(rig, "1")
    assert waiting.done()
    rig.approvals.forget(waiting)
    rig.approvals.answer("r1", False)
    with pytest.raises(PermissionError):
        await task


async def test_allowed_code_runs_without_asking() -> None:
    rig = Rig()
    rig.approvals.allow_code = True
    assert await rig.run_python("print('hi')\n2 * 3") == "hi\n6"
    assert rig.placed == [] and rig.approvals.requests == {}


def test_run_code_is_like_a_cell() -> None:
    ns: dict[str, Any] = {}
    assert run_code("y = 2", ns) == "ran without output"
    assert run_code("print('a')\ny * 5", ns) == "a\n10"
    assert run_code("None", ns) == "ran without output"
    assert run_code("", ns) == "ran without output"
    with pytest.raises(ZeroDivisionError):
        run_code("1 / 0", ns)


def test_what_the_code_prints_to_either_stream_is_its_output() -> None:
    import traceback

    namespace: dict[str, Any] = {}
    assert run_code("import sys\nprint('out')\nsys.stderr.write('err\\n')\n7", namespace) == "out\nerr\n7"
    # An error points at the agent's code by that name and line, as a traceback in a cell does.
    with pytest.raises(ZeroDivisionError) as err:
        run_code("x = 1\ny = x / 0", namespace)
    frames = traceback.extract_tb(err.value.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno) == ("<agent code>", 2)
    with pytest.raises(NameError) as err:
        run_code("x = 1\nmissing", namespace)
    assert traceback.extract_tb(err.value.__traceback__)[-1][:2] == ("<agent code>", 2)
    with pytest.raises(SyntaxError) as bad:
        run_code("x = (", namespace)
    assert bad.value.filename == "<agent code>"


async def test_a_tool_call_that_needs_approval_waits_for_the_user() -> None:
    rig = Rig()
    yes = asyncio.ensure_future(rig.approvals.ask("weather.forecast", "forecast(city='Oslo')"))
    for _ in range(100):
        await asyncio.sleep(0)
        if rig.placed:
            break
    assert rig.placed == ["r1"]
    (request,) = rig.approvals.pending()
    assert (request.tool, request.code) == ("weather.forecast", "forecast(city='Oslo')")
    rig.approvals.answer("r1", True)
    assert await yes is True
    no = asyncio.ensure_future(rig.approvals.ask("weather.forecast", "forecast(city='Rome')"))
    for _ in range(100):
        await asyncio.sleep(0)
        if len(rig.placed) == 2:
            break
    rig.approvals.answer("r2", False)
    assert await no is False


def test_the_model_is_offered_run_python_with_a_strict_schema() -> None:
    from ipyagent.errors import ToolCallError

    tool = Rig().approvals.tool()
    assert tool.name == "run_python"
    assert tool.description == (
        "Run Python code in the user's notebook, where their variables live. The user must "
        "approve each run. Returns what the code printed and the value of its last expression."
    )
    assert dict(tool.parameters) == {
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 1}},
        "required": ["code"],
        "additionalProperties": False,
    }
    assert tool.validate({"code": "1"}) == {"code": "1"}
    for bad in ({}, {"code": ""}, {"code": 1}, {"code": "1", "also": 2}):
        with pytest.raises(ToolCallError):
            tool.validate(bad)


async def test_a_request_shows_the_code_and_an_unknown_one_names_those_pending() -> None:
    rig = Rig()
    task = await asked(rig, "print('hi')")
    (request,) = rig.approvals.pending()
    assert (request.tool, request.code) == ("run_python", "print('hi')")
    with pytest.raises(SessionError) as err:
        rig.approvals.answer("r7", True)
    assert str(err.value) == "no request 'r7'; pending: r1"
    rig.approvals.answer("r1", True)
    assert await task == "hi\n"
    with pytest.raises(SessionError) as err:
        rig.approvals.answer("r9", False)
    assert str(err.value) == "no request 'r9'; pending: none"
