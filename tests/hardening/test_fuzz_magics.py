"""Bad input, magics: every magic given any argument string — quotes, unicode, control characters,
flags without their values, unknown flags — either does its job or stops with one line (an
IPython UsageError, which the notebook shows without a traceback). Nothing else escapes."""

from __future__ import annotations

import ast
import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ipyagent.kernel.session import SessionError
from ipyagent.magics import questions_stay_messages
from ipyagent.magics.magics import AgentMagics, parse_agent_line
from support.fuzz_kit import FUZZ, NASTY, assert_one_line, target, texts

AGENT_OPTIONS = [
    "--help", "-h", "--resume", "--allow-code", "--ask-code", "--wait", "--timeout", "--interrupt",
]  # fmt: skip
FLAGS = [*AGENT_OPTIONS, "--text", "--system", "--tts", "--bogus", "--", "-", "-x", "--timeout=5", "--wai"]
words = st.one_of(
    st.sampled_from(FLAGS), st.sampled_from(NASTY), texts, st.sampled_from(["5", "-1", "nan", "1e999"])
)
lines = st.lists(words, max_size=6).flatmap(
    lambda ws: st.lists(st.sampled_from([" ", "  ", "\t", "\n", ""]), min_size=len(ws), max_size=len(ws)).map(
        lambda seps: "".join(w + s for w, s in zip(ws, seps, strict=True))
    )
)


class FakeSession:
    """Stands in for the notebook session: records what the magics asked for, and refuses
    names it does not know the way the real one does (a SessionError)."""

    model = "scripted:demo.json"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def send(self, text: str, *, interrupt: bool = False) -> None:
        assert isinstance(text, str) and text.strip()
        self._record("send", text, interrupt)

    def interrupt(self, source: str = "magic") -> str:
        self._record("interrupt", source)
        return "nothing to interrupt: no agent is generating or speaking"

    def wait(self, timeout: float) -> bool:
        assert timeout > 0
        return True

    def resume(self, path: str | None = None) -> str:
        raise SessionError(f"no session file {path!r}")

    def set_allow_code(self, allow: bool) -> None:
        self._record("allow", allow)

    def start_child(self, how: str, name: str, task: str) -> None:
        if not task.strip():
            raise SessionError(f"%%{how} {name}: the cell body is the sub-agent's task; it is empty")
        self._record(how, name, task)

    def tree(self) -> str:
        return "main  idle"

    def ledger_text(self, name: str | None, *, system: bool = False) -> str:
        if name not in (None, "main"):
            raise SessionError(f"no agent named {name!r}; agents: main")
        return "ledger of main: 0 entries"

    def widget(self, make: Any, name: str | None = None, *, start: bool = False) -> None:
        if name not in (None, "main"):
            raise SessionError(f"no agent named {name!r}; agents: main")
        return None  # no agent yet: the magics fall back to text or say so

    def cancel(self, name: str) -> str:
        raise SessionError(f"no agent named {name!r}; agents: main")

    def set_model(self, spec: str) -> str:
        return spec

    def tool_list(self) -> list[tuple[str, str, str]]:
        return [("sleep", "built-in", "Wait.")]

    def answer(self, approval_id: str | None, yes: bool) -> str:
        raise SessionError(f"no request {approval_id!r}; pending: none")


@pytest.fixture(scope="module")
def magics() -> Iterator[tuple[AgentMagics, FakeSession]]:
    shell = InteractiveShell.instance()
    session = FakeSession()
    yield AgentMagics(shell, lambda: session), session  # type: ignore[arg-type,return-value]
    InteractiveShell.clear_instance()


LINE_MAGICS = [
    "agent", "agents", "ledger", "chat", "timeline", "notifications", "voice", "interrupt", "cancel",
    "model", "tools", "approve", "deny",
]  # fmt: skip
CELL_MAGICS = ["agent", "fork", "spawn"]


def _run(call: Any) -> str:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            call()
    except UsageError as exc:
        assert_one_line(str(exc), 500)
    return out.getvalue()


@FUZZ
@given(st.sampled_from(LINE_MAGICS), lines)
@example("agent", "--timeout")
@example("agent", "--timeout\nfoo")
@example("agent", "--bogus\x1b[2J")
@example("agent", "--wait --timeout nan")
@example("agent", "--wait --timeout 1e999")
@example("ledger", "--text\n--system")
@example("voice", "--tts")
@example("cancel", "")
@example("approve", "\"'")
@target("line magics")
def test_every_line_magic_takes_any_arguments(
    magics: tuple[AgentMagics, FakeSession], name: str, line: str
) -> None:
    shell_magics, _ = magics
    _run(lambda: getattr(shell_magics, name)(line))


@FUZZ
@given(st.sampled_from(CELL_MAGICS), lines, texts)
@example("fork", "", "task")
@example("spawn", "kid", "   ")
@example("fork", "a b", "x")
@example("agent", "--interrupt", "")
@target("cell magics")
def test_every_cell_magic_takes_any_arguments(
    magics: tuple[AgentMagics, FakeSession], name: str, line: str, cell: str
) -> None:
    shell_magics, _ = magics
    _run(lambda: getattr(shell_magics, name)(line, cell))


@FUZZ
@given(lines)
@target("%agent option parser")
def test_agent_options_come_first_and_the_rest_is_the_message(line: str) -> None:
    try:
        args = parse_agent_line(line)
    except UsageError as exc:
        assert_one_line(str(exc), 500)
        return
    message = args.message
    assert line.strip().endswith(message)  # the message is the line's tail, as typed
    first = line.split()[0] if line.split() else ""
    if not first.startswith("-"):
        assert vars(args) == vars(parse_agent_line("")) | {"message": line.strip()}
    if args.timeout is not None:
        assert 0 < args.timeout < float("inf")


@FUZZ
@given(lines)
@example("Is it sunny?")
@example('what\'s "x"?\\')
@target("%agent questions (input transformer)")
def test_a_question_to_the_agent_is_still_valid_python(line: str) -> None:
    cell = [f"%agent {line}?\n", "x = 1\n"]
    out = questions_stay_messages(cell)
    assert len(out) == len(cell)
    if "\n" not in line and "\r" not in line:
        ast.parse(out[0])


def test_notifications_and_timeline_print_as_text_with_hostile_content() -> None:
    from ipyagent import Agent, RealClock
    from ipyagent.dispatch.backends import ScriptedBackend
    from ipyagent.ledger import Ledger

    ledger = Ledger()
    ledger.append("user", "plan my trip", time=1_800_000_000.0)
    ledger.append(
        "notification", "itinerary ready\n\x1b[2Jday 1: <Paris>", time=1_800_000_005.0, source="tool_result",
        task_id="t1", name="plan_itinerary",
    )  # fmt: skip
    agent = Agent(ScriptedBackend.from_list([{"text": "hi"}], RealClock()), ledger=ledger, builtins=False)

    class WithAgent(FakeSession):
        def widget(self, make: Any, name: str | None = None, *, start: bool = False) -> Any:
            return make(agent)

    shell_magics = AgentMagics(InteractiveShell.instance(), WithAgent)  # type: ignore[arg-type]
    try:
        shown = _run(lambda: shell_magics.notifications("--text"))
        assert "[tool_result t1 plan_itinerary] itinerary ready" in shown
        assert "\x1b" not in shown and shown.count("\n") == 2  # a header and one line
        assert _run(lambda: shell_magics.timeline("--text")).startswith("timeline of main")
        with pytest.raises(UsageError, match=r"usage: %timeline \[--text\]"):
            shell_magics.timeline("--txt")
    finally:
        InteractiveShell.clear_instance()
