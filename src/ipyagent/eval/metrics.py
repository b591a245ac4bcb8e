"""Scoring a finished run: each check, the automatic metrics, and the totals of a suite.

Metrics (per scenario, and pooled over a suite):

- **valid messages**: generations (of the agent and its sub-agents) that came out as a valid
  ledger message: no tool call rejected (unknown tool, arguments that are not JSON or fail the
  schema) and no model failure.
- **tool + args**: checks about calls (right tool, right arguments, no unwanted call, cancelling).
- **notifications**: checks about results that arrive as notifications (said after it arrived,
  not claimed before).
- **no duplicates**: no tool called again with the same arguments while the first call was still
  running (or twice in one generation).
- **success**: every check passed, every user step happened, no duplicate, and the run ended by
  itself (not stopped as a runaway or by the real-time limit).
- **time to first answer**: for each user message, the virtual time until the generation that
  first answered it began, plus that generation's time to its first token (real seconds for a
  real model). Averaged over the scenario's user messages.
- **tokens**: input and output tokens over all generations.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, median
from typing import Any

from ..ledger import Entry
from .runner import RunRecord, TaskRecord, _notified
from .scenario import Check, Scenario

_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class CheckResult:
    check: Check
    passed: bool
    detail: str  # why it failed, or what satisfied it

    @property
    def description(self) -> str:
        return self.check.describe()


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    record: RunRecord
    generations: int
    valid_generations: int
    invalid: tuple[str, ...]  # what made generations invalid
    checks: tuple[CheckResult, ...]
    duplicates: tuple[str, ...]
    missed_steps: tuple[str, ...]
    first_answer: float | None
    input_tokens: int
    output_tokens: int

    @property
    def success(self) -> bool:
        return (
            all(c.passed for c in self.checks)
            and not self.duplicates
            and not self.missed_steps
            and self.record.end in ("settled", "time limit")
            and self.record.error is None
        )

    def metric(self, name: str) -> tuple[int, int]:
        """``(passed, total)`` of the checks counted under ``name``."""
        chosen = [c for c in self.checks if c.check.metric == name]
        return sum(c.passed for c in chosen), len(chosen)

    def failures(self) -> list[str]:
        """Each reason this scenario did not succeed, one line each."""
        out = [f"{c.description}: {c.detail}" for c in self.checks if not c.passed]
        out += [f"duplicate call: {d}" for d in self.duplicates]
        out += [f"never happened: {s}" for s in self.missed_steps]
        if self.record.end not in ("settled", "time limit"):
            out.append(f"run stopped: {self.record.end}")
        if self.record.error:
            out.append(f"error: {self.record.error}")
        return out


@dataclass(frozen=True)
class Totals:
    """Pooled figures over a set of scenario results."""

    scenarios: int
    successes: int
    generations: int
    valid_generations: int
    tools: tuple[int, int]
    notifications: tuple[int, int]
    answers: tuple[int, int]
    no_duplicates: int
    first_answer: float | None  # median of the scenarios' figures
    input_tokens: int
    output_tokens: int
    real_seconds: float

    @staticmethod
    def of(results: Sequence[ScenarioResult]) -> Totals:
        def pooled(name: str) -> tuple[int, int]:
            pairs = [r.metric(name) for r in results]
            return sum(p for p, _ in pairs), sum(t for _, t in pairs)

        answers = [r.first_answer for r in results if r.first_answer is not None]
        return Totals(
            scenarios=len(results),
            successes=sum(r.success for r in results),
            generations=sum(r.generations for r in results),
            valid_generations=sum(r.valid_generations for r in results),
            tools=pooled("tools"),
            notifications=pooled("notifications"),
            answers=pooled("answers"),
            no_duplicates=sum(not r.duplicates for r in results),
            first_answer=median(answers) if answers else None,
            input_tokens=sum(r.input_tokens for r in results),
            output_tokens=sum(r.output_tokens for r in results),
            real_seconds=sum(r.record.real_seconds for r in results),
        )

    @property
    def success_rate(self) -> float:
        return self.successes / self.scenarios if self.scenarios else 0.0


# --- matching -----------------------------------------------------------------------------------


def _value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(actual, str) and expected.strip().lower() in actual.strip().lower()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and float(expected) == float(actual)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_value_matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, Mapping):
        return args_match(expected, actual)
    return bool(expected == actual)


def args_match(expected: Mapping[str, Any] | None, actual: Any) -> bool:
    """Whether a call's arguments hold every expected one (strings: case-insensitive substring)."""
    if not expected:
        return True
    if not isinstance(actual, Mapping):
        return False
    return all(k in actual and _value_matches(v, actual[k]) for k, v in expected.items())


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _says(text: str, words: Sequence[str], all_words: bool) -> bool:
    lowered = " ".join(_words(text))
    hits = [" ".join(_words(w)) in lowered for w in words]
    return all(hits) if all_words else any(hits)


# --- the windows a check looks at ------------------------------------------------------------


class _View:
    """The main ledger of a run, with the positions checks refer to."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.entries = record.entries

    def notification_at(self, name: str) -> int | None:
        return next((e.index for e in self.entries if _notified(e, name)), None)

    def seconds(self, entry: Entry) -> float:
        return entry.time - self.record.epoch

    def window(self, check: Check, kinds: Iterable[str]) -> tuple[list[Entry], str | None]:
        """Entries of ``kinds`` in the check's window, or a reason the window does not exist."""
        wanted = set(kinds)
        chosen = [e for e in self.entries if e.kind in wanted]
        if check.after is not None:
            at = self.notification_at(check.after)
            if at is None:
                return [], f"the notification of {check.after} never arrived"
            chosen = [e for e in chosen if e.index > at]
        if check.before is not None:
            at = self.notification_at(check.before)
            if at is not None:
                chosen = [e for e in chosen if e.index < at]
        if check.after_step is not None:
            step = self.record.steps[check.after_step - 1]
            if step.time is None:
                return [], f"step {check.after_step} never happened"
            chosen = [e for e in chosen if e.index >= step.ledger_position]
        if check.by is not None:
            chosen = [e for e in chosen if self.seconds(e) <= check.by + 1e-9]
        return chosen, None


def rejected_calls(entries: Sequence[Entry]) -> set[int]:
    """The ledger indices of the calls the dispatcher rejected (unknown tool, arguments not JSON
    or against the schema). Each call's immediate result follows it, matched by its call id
    (ids repeat across generations, so they are matched in order, not looked up)."""
    open_calls: dict[str | None, Entry] = {}
    rejected: set[int] = set()
    for e in entries:
        if e.kind == "tool_call":
            open_calls[e.call_id] = e
        elif e.kind == "tool_result":
            call = open_calls.pop(e.call_id, None)
            if call is not None and e.status == "rejected":
                rejected.add(call.index)
    return rejected


def _names(target: str | tuple[str, ...] | int) -> tuple[str, ...]:
    """A call check's tool names: one tool, or any one of several."""
    return target if isinstance(target, tuple) else (str(target),)


def _calls(
    entries: Sequence[Entry],
    names: tuple[str, ...],
    args: Mapping[str, Any] | None,
    rejected: set[int] | frozenset[int] = frozenset(),
) -> list[Entry]:
    """Calls of any of ``names`` with ``args``, leaving out those whose index is in ``rejected``."""
    return [
        e
        for e in entries
        if e.kind == "tool_call"
        and e.name in names
        and e.index not in rejected
        and args_match(args, e.arguments)
    ]


def _rejections(entries: Sequence[Entry], names: tuple[str, ...], rejected: set[int]) -> str:
    n = sum(1 for e in entries if e.kind == "tool_call" and e.name in names and e.index in rejected)
    return f" ({n} rejected call(s) not counted)" if n else ""


def _shown(e: Entry) -> str:
    args = json.dumps(e.arguments, sort_keys=True) if e.arguments is not None else e.text
    return f"{e.name}({args})"


def evaluate_check(check: Check, record: RunRecord) -> CheckResult:
    view = _View(record)
    match check.kind:
        case "call":
            entries, problem = view.window(check, ["tool_call"])
            if problem:
                return CheckResult(check, False, problem)
            # A call the dispatcher rejected never ran: it is no call of the tool.
            names = _names(check.target)
            rejected = rejected_calls(record.entries)
            hits = _calls(entries, names, check.args, rejected)
            if check.count is not None and len(hits) != check.count:
                return CheckResult(
                    check, False, f"called {len(hits)}x" + _rejections(entries, names, rejected)
                )
            if check.count is None and not hits:
                tried = [_shown(e) for e in entries if e.kind == "tool_call" and e.name in names]
                detail = f"calls made: {', '.join(tried)}" if tried else "never called"
                return CheckResult(check, False, detail + _rejections(entries, names, rejected))
            return CheckResult(check, True, f"called {len(hits)}x")
        case "no_call":
            entries, problem = view.window(check, ["tool_call"])
            if problem and check.after is not None:
                return CheckResult(check, True, problem)
            # Asking for the tool is what this check forbids, even if the call was then rejected.
            hits = _calls(entries, _names(check.target), check.args)
            if hits:
                return CheckResult(check, False, "called: " + ", ".join(_shown(e) for e in hits))
            return CheckResult(check, True, "not called")
        case "cancel":
            return _cancel(check, record)
        case "say" | "not_say":
            entries, problem = view.window(check, ["assistant"])
            if problem:
                return CheckResult(check, check.kind == "not_say", problem)
            assert isinstance(check.target, tuple)
            hits = [e for e in entries if _says(e.text, check.target, check.all_words)]
            if check.kind == "say":
                if hits:
                    return CheckResult(check, True, f"said: {hits[0].text[:80]!r}")
                return CheckResult(check, False, f"not in {len(entries)} answer(s) in that window")
            if hits:
                return CheckResult(check, False, f"said: {hits[0].text[:80]!r}")
            return CheckResult(check, True, "not said")
        case _:
            return _no_repeat(check, record)


def _cancel(check: Check, record: RunRecord) -> CheckResult:
    targets = {t.task_id: t for t in record.tasks if t.name == check.target}
    if not targets:
        return CheckResult(check, False, f"no {check.target} task was ever started")
    asked = [
        e
        for e in record.entries
        if e.kind == "tool_call" and e.name == "cancel_task" and isinstance(e.arguments, Mapping)
    ]
    for call in asked:
        task = targets.get(str((call.arguments or {}).get("task_id", "")))
        if task is not None and task.status == "cancelled":
            return CheckResult(check, True, f"cancelled {task.task_id}")
    if asked:
        ids = ", ".join(str((c.arguments or {}).get("task_id")) for c in asked)
        return CheckResult(
            check, False, f"cancel_task asked for {ids}; the {check.target} task is {sorted(targets)}"
        )
    return CheckResult(check, False, "cancel_task was never called")


def _no_repeat(check: Check, record: RunRecord) -> CheckResult:
    assert isinstance(check.target, int)
    n = check.target
    entries = record.entries
    cuts = [e.index for e in entries if e.kind == "interruption"]
    if not cuts:
        return CheckResult(check, False, "the agent was never interrupted while answering")
    for cut in cuts:
        heard = next(
            (e for e in reversed(entries[:cut]) if e.kind == "assistant" and e.status == "interrupted"), None
        )
        if heard is None:
            continue
        words = _words(heard.text)
        grams = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
        for later in entries[cut + 1 :]:
            if later.kind != "assistant":
                continue
            said = _words(later.text)
            for i in range(len(said) - n + 1):
                gram = " ".join(said[i : i + n])
                if gram in grams:
                    return CheckResult(check, False, f"repeated {gram!r}")
    return CheckResult(check, True, "nothing heard was repeated")


# --- automatic metrics ------------------------------------------------------------------------


def _generations(entries: Sequence[Entry]) -> tuple[int, int, list[str]]:
    """``(generations, valid, reasons)`` for one agent's own entries."""
    total = valid = 0
    reasons: list[str] = []
    current_ok: bool | None = None  # the open generation: is it valid so far?
    incomplete = False

    def close() -> None:
        nonlocal total, valid, current_ok
        if current_ok is not None:
            total += 1
            valid += current_ok
        current_ok = None

    for e in entries:
        if e.kind == "assistant":
            close()
            current_ok, incomplete = True, e.status == "incomplete"
        elif e.kind == "tool_call" and current_ok is None:
            current_ok, incomplete = True, False
        elif e.kind == "tool_result" and e.status == "rejected" and current_ok is not None:
            if current_ok:
                reasons.append(e.text)
            current_ok = False
        elif e.kind == "notification" and e.source == "model_error":
            if current_ok is None or not incomplete:
                close()
                current_ok = True
            current_ok = False
            reasons.append(e.text)
            close()
        elif e.kind in ("user", "notification", "subagent"):
            close()
    close()
    return total, valid, reasons


def _args_key(arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str)


def duplicates(tasks: Sequence[TaskRecord]) -> list[str]:
    """Calls repeated (same tool, same arguments) while the first was still running."""
    found = []
    ordered = sorted((t for t in tasks if t.name != "list_tasks"), key=lambda t: (t.started, t.task_id))
    for i, later in enumerate(ordered):
        for earlier in ordered[:i]:
            if earlier.name != later.name or _args_key(earlier.arguments) != _args_key(later.arguments):
                continue
            if (
                earlier.finished is None
                or later.started < earlier.finished
                or later.started == earlier.started
            ):
                found.append(f"{later.task_id} {later.name} repeats {earlier.task_id} while it was running")
                break
    return found


def _first_answer(record: RunRecord) -> float | None:
    """Mean over user steps of (virtual wait until the answering generation began + its time to
    first token)."""
    starts = record.generation_starts
    usage_of: dict[int, Mapping[str, Any] | None] = {}
    spoke: set[int] = set()
    for e in record.entries:
        if e.kind == "assistant" and e.generation is not None:
            usage_of[e.generation] = e.usage
            if e.text.strip():
                spoke.add(e.generation)
    figures = []
    for step in record.steps:
        if step.step.user is None or step.time is None:
            continue
        for n, began in enumerate(starts, 1):
            if began + 1e-9 >= step.time and n in spoke:
                first = _figure((usage_of.get(n) or {}).get("first_token_seconds"))
                figures.append(began - step.time + first)
                break
    return mean(figures) if figures else None


def _figure(value: Any) -> float:
    """A usage figure as a number; anything else (missing, damaged) counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def score(record: RunRecord) -> ScenarioResult:
    """Score a finished run."""
    scenario = record.scenario
    generations, valid, invalid = _generations(record.entries)
    for sub in record.sub_ledgers.values():
        g, v, why = _generations(sub)
        generations, valid, invalid = generations + g, valid + v, invalid + why
    tokens_in = tokens_out = 0
    for entries in (record.entries, *record.sub_ledgers.values()):
        for e in entries:
            if e.kind == "assistant" and e.usage:
                tokens_in += int(_figure(e.usage.get("input_tokens")))
                tokens_out += int(_figure(e.usage.get("output_tokens")))
    return ScenarioResult(
        scenario=scenario,
        record=record,
        generations=generations,
        valid_generations=valid,
        invalid=tuple(invalid),
        checks=tuple(evaluate_check(c, record) for c in scenario.checks),
        duplicates=tuple(duplicates(record.tasks)),
        missed_steps=tuple(s.step.describe() for s in record.steps if s.time is None),
        first_answer=_first_answer(record),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
    )
