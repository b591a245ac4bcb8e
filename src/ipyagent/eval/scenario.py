"""Scenario suites: what a suite holds (simulated tools, scenarios with steps, checks and a
reference), as frozen data. :mod:`ipyagent.eval.loader` reads them from TOML files.

Every problem is reported as a :class:`ScenarioError` naming the file, the scenario and what to fix.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..dispatch.backends.scripted import ScriptTurn
from ..errors import IpyagentError, one_line

Behaviour = Literal[
    "quick_question",  # answer a quick question while a slow tool runs
    "notification",  # use a tool result that arrives later as a notification
    "no_duplicate",  # do not call a tool again while it is still pending
    "cancel",  # cancel a task when the user changes their mind
    "interruption",  # resume after being cut off, without repeating what was heard
    "timer",  # timers and deadlines
    "fork_spawn",  # choose fork (needs the conversation) or spawn (fresh)
    "parallel",  # independent calls in parallel
]
BEHAVIOURS: tuple[str, ...] = get_args(Behaviour)

CheckKind = Literal["call", "no_call", "cancel", "say", "not_say", "no_repeat"]
CHECK_KINDS: tuple[str, ...] = get_args(CheckKind)
Metric = Literal["tools", "notifications", "answers"]
METRICS: tuple[str, ...] = get_args(Metric)

DEFAULT_LIMIT = 600.0


class ScenarioError(IpyagentError):
    """Raised when a suite file cannot be used; names the file, the scenario and the problem."""

    def __init__(self, path: str, reason: str, scenario: str | None = None) -> None:
        self.path = path
        self.scenario = scenario
        self.reason = reason
        shown = one_line(path, 120)
        where = shown if scenario is None else f"{shown}, scenario {scenario!r}"
        super().__init__(f"bad suite {where}: {one_line(reason)}")


@dataclass(frozen=True)
class SimTool:
    """A simulated tool: answers ``result`` (or fails with ``error``) after ``latency`` virtual seconds."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    latency: float = 0.0
    result: str = "done"
    error: str | None = None
    timeout: float | None = None

    def answer(self, arguments: Mapping[str, Any]) -> str:
        """The result text with ``{argument}`` placeholders filled in (unknown ones stay as written)."""
        return string.Formatter().vformat(self.result, (), _Leave(arguments))


class _Leave(dict[str, Any]):
    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Step:
    """Something the user does, once its trigger holds (steps run in order, each armed when the
    previous one has happened).

    Triggers: ``at`` (virtual seconds since the start), or ``after``: ``"start"``, ``"reply"``
    (the agent has finished an answer and is idle), ``"settled"`` (nothing running either),
    ``"call:NAME"`` (a task NAME has started), ``"notification:NAME"``; then, if given,
    ``after_words`` (the agent has said this many words of one answer). The default is
    ``"start"`` for the first step and ``"reply"`` after. ``delay`` waits that many more virtual
    seconds.
    """

    number: int  # 1-based
    at: float | None = None
    after: str = "reply"
    after_words: int | None = None
    delay: float = 0.0
    user: str | None = None
    interrupt: bool = False

    def describe(self) -> str:
        if self.at is not None:
            when = f"at {self.at:g} s"
        elif self.after_words is not None:
            when = f"after {self.after_words} words of an answer"
            if self.after != "start":
                when += f", once after {self.after}"
        else:
            when = f"after {self.after}"
        what = (
            ("interrupts: " if self.interrupt else "says: ") + repr(self.user) if self.user else "interrupts"
        )
        return f"step {self.number} ({when}): the user {what}"


@dataclass(frozen=True)
class Check:
    """One thing a run must show. ``kind`` decides what ``target`` is:

    - ``call``: tool name, or a tuple of names meaning any one of them; called (``count`` times
      exactly, in all, if given) with ``args`` (a subset; strings match case-insensitively as
      substrings, numbers by value). A call the dispatcher rejected (unknown tool, arguments
      against the schema) never ran, so it does not count.
    - ``no_call``: tool name(s); never asked for (with ``args``, if given), rejected or not.
    - ``cancel``: tool name; its running task was cancelled with ``cancel_task``.
    - ``say`` / ``not_say``: words; some / no answer contains any of them (all, with ``all``).
    - ``no_repeat``: n; after an interruption, no later answer repeats n words in a row of what
      the user had already heard.

    Windows: ``before``/``after`` a notification (a tool name, ``"timer"`` or ``"subagent"``),
    ``after_step`` (answers/calls recorded after that step happened), ``by`` (virtual seconds).
    """

    kind: CheckKind
    target: str | tuple[str, ...] | int
    metric: Metric
    args: Mapping[str, Any] | None = None
    count: int | None = None
    all_words: bool = False
    before: str | None = None
    after: str | None = None
    after_step: int | None = None
    by: float | None = None

    def describe(self) -> str:
        match self.kind:
            case "call" | "no_call":
                args = ", ".join(f"{k}={v!r}" for k, v in (self.args or {}).items())
                names = self.target if isinstance(self.target, tuple) else (str(self.target),)
                tools = " or ".join(f"{name}({args})" for name in names)
                what = f"{'calls' if self.kind == 'call' else 'does not call'} {tools}"
                if self.count is not None:
                    what += f" exactly {self.count}x"
            case "cancel":
                what = f"cancels the running {self.target} task"
            case "say" | "not_say":
                assert isinstance(self.target, tuple)
                joiner = " and " if self.all_words else " or "
                words = joiner.join(repr(w) for w in self.target)
                what = f"{'says' if self.kind == 'say' else 'does not say'} {words}"
            case _:
                what = f"does not repeat {self.target} heard words after an interruption"
        for label, value in (
            ("before the notification of", self.before),
            ("after the notification of", self.after),
            ("after step", self.after_step),
            ("by", None if self.by is None else f"{self.by:g} s"),
        ):
            if value is not None:
                what += f" {label} {value}"
        return what


@dataclass(frozen=True)
class Scenario:
    id: str
    suite: str
    path: str
    behaviour: Behaviour
    description: str
    tools: tuple[SimTool, ...]
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]
    reference: tuple[ScriptTurn, ...] | None = None
    instructions: str | None = None
    limit: float = DEFAULT_LIMIT

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.id}"


@dataclass(frozen=True)
class Suite:
    name: str
    path: str
    description: str
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)
