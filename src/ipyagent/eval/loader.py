"""Scenario suites: the declarative TOML format, and its loader.

A suite file declares simulated tools and a list of scenarios::


    description = "Answering while slow tools run"

    [tools.get_weather]
    description = "Current weather for a city."
    parameters = { city = "string" }        # type names or JSON-schema tables; all required
    latency = 2                             # seconds of the virtual clock
    result = "{city}: sunny, 21 C"          # {argument} is filled in from the call

    [[scenario]]
    id = "weather-during-itinerary"
    behaviour = "quick_question"
    tools = ["plan_itinerary", "get_weather"]
    steps = [
      { user = "Plan me 3 days in Paris." },                  # at the start
      { at = 5, user = "What's the weather in Paris now?" },  # 5 s in
    ]
    checks = [
      { call = "get_weather", args = { city = "Paris" } },
      { say = ["sunny", "21"], before = "plan_itinerary" },
    ]
    reference = [ { text = "...", tool_calls = [...] }, ... ]   # what a perfect model does

Every problem is reported as a :class:`~ipyagent.eval.scenario.ScenarioError` naming the file,
the scenario and what to fix.
"""

from __future__ import annotations

import functools
import math
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..dispatch.backends.scripted import parse_turns
from ..dispatch.schema import SchemaError, check_schema
from ..errors import ScriptError, read_user_file
from .scenario import (
    BEHAVIOURS,
    CHECK_KINDS,
    DEFAULT_LIMIT,
    METRICS,
    Check,
    CheckKind,
    Metric,
    Scenario,
    ScenarioError,
    SimTool,
    Step,
    Suite,
)

# Notification names beyond tool names: any timer (set_timer or sleep), any sub-agent's report.
NOTIFICATION_ALIASES = frozenset({"timer", "subagent"})

_TYPE_NAMES = ("string", "integer", "number", "boolean", "array", "object")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SUITE_KEYS = {"name", "description", "tools", "scenario"}
_TOOL_KEYS = {"description", "parameters", "optional", "latency", "result", "error", "timeout"}
_SCENARIO_KEYS = {
    "id",
    "behaviour",
    "description",
    "tools",
    "latency",
    "results",
    "errors",
    "steps",
    "checks",
    "reference",
    "instructions",
    "limit",
}
_STEP_KEYS = {"at", "after", "after_words", "delay", "user", "interrupt"}
_CHECK_QUALIFIERS: dict[str, set[str]] = {
    "call": {"args", "count", "by", "after_step", "after", "before"},
    "no_call": {"args", "after_step", "after", "before"},
    "cancel": set(),
    "say": {"all", "before", "after", "after_step", "by"},
    "not_say": {"all", "before", "after", "after_step", "by"},
    "no_repeat": set(),
}


@functools.cache
def builtin_tools() -> frozenset[str]:
    """The names of the tools every agent has: scenarios may name them in checks, triggers and
    references. Read from an agent, so a new built-in is known here without a second list."""
    from ..agents import Agent
    from ..clock import RealClock
    from ..dispatch.backends import ScriptedBackend

    return frozenset(Agent(ScriptedBackend.from_list([], RealClock()), name="probe").tools)


# --- loading ----------------------------------------------------------------------------------


def builtin_suite_dir() -> Path:
    return Path(str(resources.files("ipyagent.eval") / "suites"))


def builtin_suites() -> dict[str, Path]:
    """The suites shipped with ipyagent, by name."""
    return {p.stem: p for p in sorted(builtin_suite_dir().glob("*.toml"))}


def find_suites(names: Sequence[str] = ()) -> list[Suite]:
    """Load suites by name (shipped ones) or path; no names, or ``"all"``, loads every shipped suite."""
    shipped = builtin_suites()
    if not names or "all" in names:
        return [load_suite(p) for p in shipped.values()]
    suites = []
    for name in names:
        if name in shipped:
            suites.append(load_suite(shipped[name]))
        elif name.endswith(".toml") or _exists(name):
            suites.append(load_suite(name))
        else:
            known = ", ".join(shipped) or "none"
            raise ScenarioError(name, f"no such suite; shipped suites: {known} (or give a .toml path)")
    return suites


def _exists(name: str) -> bool:
    try:
        return Path(name).exists()
    except (OSError, ValueError):  # too long, or a NUL character
        return False


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file. Raises :class:`ScenarioError` for anything wrong."""
    source = str(path)
    text = read_user_file(path, ScenarioError)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(source, "not valid TOML: arrays or tables nested too deeply") from None
    return parse_suite(raw, source, Path(path).stem)


def parse_suite(raw: Mapping[str, Any], source: str, default_name: str = "suite") -> Suite:
    _unknown(raw, _SUITE_KEYS, source, None, "the suite")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not _ID.match(name):
        raise ScenarioError(
            source, f"'name' must be lowercase letters, digits, '_', '.' or '-', got {name!r}"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(source, "'description' must be a string")
    tools_raw = raw.get("tools", {})
    if not isinstance(tools_raw, Mapping):
        raise ScenarioError(source, "'tools' must be a table of tools: [tools.NAME]")
    tools = {tool_name: _tool(tool_name, spec, source) for tool_name, spec in tools_raw.items()}
    scenarios_raw = raw.get("scenario", [])
    if not isinstance(scenarios_raw, list) or not scenarios_raw:
        raise ScenarioError(source, "no scenarios: add at least one [[scenario]] table")
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    for n, item in enumerate(scenarios_raw, 1):
        scenario = _scenario(item, n, name, source, tools)
        if scenario.id in seen:
            raise ScenarioError(source, "the id is used twice; ids must be unique in a suite", scenario.id)
        seen.add(scenario.id)
        scenarios.append(scenario)
    return Suite(name, source, description, tuple(scenarios))


def _unknown(raw: Mapping[str, Any], allowed: set[str], source: str, scenario: str | None, what: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise ScenarioError(
            source, f"{what} has unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}", scenario
        )


def _template(text: str, what: str, source: str, scenario: str | None) -> None:
    """A result is filled in with ``{argument}`` only: no positions, attributes or formats, so
    answering a call can never fail on it."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ScenarioError(
            source,
            f"{what} is not a valid template ({exc}); write {{{{ and }}}} for a literal brace",
            scenario,
        ) from None
    for _, field_name, spec, conversion in parts:
        if field_name is not None and (not field_name.isidentifier() or spec or conversion):
            written = field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ScenarioError(
                source,
                f"{what}: {{{written}}} is not an argument placeholder; "
                "use {NAME} with a parameter's name, or {{ and }} for braces",
                scenario,
            )


def _number(value: Any, what: str, source: str, scenario: str | None, *, minimum: float = 0.0) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ScenarioError(source, f"{what} must be a number >= {minimum:g}, got {value!r}", scenario)
    return float(value)


def _tool(name: str, spec: Any, source: str) -> SimTool:
    where = f"tool {name!r}"
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name):
        raise ScenarioError(source, f"{where}: a tool name must be a Python identifier")
    if name in builtin_tools():
        raise ScenarioError(source, f"{where}: that name belongs to a built-in tool; pick another")
    if not isinstance(spec, Mapping):
        raise ScenarioError(source, f"{where} must be a table")
    _unknown(spec, _TOOL_KEYS, source, None, where)
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ScenarioError(source, f"{where} needs a 'description' (it is what the model reads)")
    params = spec.get("parameters", {})
    if not isinstance(params, Mapping):
        raise ScenarioError(source, f"{where}: 'parameters' must be a table of name = type")
    optional = spec.get("optional", [])
    if not isinstance(optional, list) or any(not isinstance(o, str) or o not in params for o in optional):
        raise ScenarioError(source, f"{where}: 'optional' must list some of its parameters")
    properties: dict[str, Any] = {}
    for param, kind in params.items():
        if isinstance(kind, str):
            if kind not in _TYPE_NAMES:
                raise ScenarioError(
                    source, f"{where}, parameter {param!r}: unknown type {kind!r}; use one of {_TYPE_NAMES}"
                )
            properties[param] = {"type": kind}
        elif isinstance(kind, Mapping):
            properties[param] = dict(kind)
        else:
            raise ScenarioError(source, f"{where}, parameter {param!r}: give a type name or a JSON schema")
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [p for p in params if p not in optional]
    if required:
        schema["required"] = required
    try:
        check_schema(schema)
    except SchemaError as exc:
        raise ScenarioError(source, f"{where}: invalid parameter schema: {exc.message}") from None
    result = spec.get("result", "done")
    error = spec.get("error")
    if not isinstance(result, str) or (error is not None and not isinstance(error, str)):
        raise ScenarioError(source, f"{where}: 'result' and 'error' must be strings")
    _template(result, f"{where}: 'result'", source, None)
    timeout = spec.get("timeout")
    return SimTool(
        name,
        description.strip(),
        schema,
        _number(spec.get("latency", 0.0), f"{where}: 'latency'", source, None),
        result,
        error,
        None if timeout is None else _number(timeout, f"{where}: 'timeout'", source, None, minimum=0.001),
    )


def _scenario(item: Any, n: int, suite: str, source: str, tools: Mapping[str, SimTool]) -> Scenario:
    if not isinstance(item, Mapping):
        raise ScenarioError(source, f"scenario number {n} must be a table")
    sid = item.get("id")
    if not isinstance(sid, str) or not _ID.match(sid):
        raise ScenarioError(
            source, f"scenario number {n} needs an 'id' of lowercase letters, digits, '_', '.' or '-'"
        )
    _unknown(item, _SCENARIO_KEYS, source, sid, "the scenario")
    behaviour = item.get("behaviour")
    if behaviour not in BEHAVIOURS:
        raise ScenarioError(source, f"'behaviour' must be one of {list(BEHAVIOURS)}, got {behaviour!r}", sid)
    description = item.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(source, "'description' must be a string", sid)

    names = item.get("tools", [])
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise ScenarioError(source, "'tools' must be a list of tool names", sid)
    missing = [x for x in names if x not in tools]
    if missing:
        known = ", ".join(tools) or "none"
        raise ScenarioError(source, f"unknown tool(s) {missing}; the suite declares: {known}", sid)
    overrides: dict[str, dict[str, Any]] = {x: {} for x in names}
    for key, field_name in (("latency", "latency"), ("results", "result"), ("errors", "error")):
        table = item.get(key, {})
        if not isinstance(table, Mapping):
            raise ScenarioError(source, f"'{key}' must be a table of tool = value", sid)
        for tool_name, value in table.items():
            if tool_name not in overrides:
                raise ScenarioError(source, f"'{key}' names {tool_name!r}, which is not in 'tools'", sid)
            if key == "latency":
                value = _number(value, f"latency of {tool_name!r}", source, sid)
            elif not isinstance(value, str):
                raise ScenarioError(source, f"'{key}' of {tool_name!r} must be a string", sid)
            elif key == "results":
                _template(value, f"'results' of {tool_name!r}", source, sid)
            overrides[tool_name][field_name] = value
    sim_tools = tuple(_replace(tools[x], overrides[x]) for x in names)
    known_tools = {t.name for t in sim_tools} | builtin_tools()

    steps_raw = item.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ScenarioError(source, "'steps' must be a non-empty list of user actions", sid)
    steps = tuple(_step(s, i, source, sid, known_tools) for i, s in enumerate(steps_raw, 1))
    checks_raw = item.get("checks")
    if not isinstance(checks_raw, list) or not checks_raw:
        raise ScenarioError(source, "'checks' must be a non-empty list", sid)
    checks = tuple(_check(c, i, source, sid, known_tools, len(steps)) for i, c in enumerate(checks_raw, 1))

    reference = None
    if "reference" in item:
        try:
            turns = parse_turns(item["reference"], f"{source}, scenario {sid!r}, reference")
        except ScriptError as exc:
            raise ScenarioError(source, f"reference: {exc.reason}" + _turn(exc.turn), sid) from None
        for t, turn in enumerate(turns):
            for call in turn.tool_calls:
                if call.name not in known_tools:
                    raise ScenarioError(
                        source, f"reference turn {t} calls {call.name!r}, which is not one of its tools", sid
                    )
        reference = tuple(turns)
    instructions = item.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ScenarioError(source, "'instructions' must be a string", sid)
    limit = _number(item.get("limit", DEFAULT_LIMIT), "'limit'", source, sid, minimum=1.0)
    return Scenario(
        sid, suite, source, behaviour, description, sim_tools, steps, checks, reference, instructions, limit
    )


def _turn(turn: int | None) -> str:
    return "" if turn is None else f" (turn {turn})"


def _replace(tool: SimTool, changes: Mapping[str, Any]) -> SimTool:
    if not changes:
        return tool
    values = {**tool.__dict__, **changes}
    return SimTool(**values)


def _notification_name(value: Any, what: str, source: str, sid: str, known: set[str] | frozenset[str]) -> str:
    if not isinstance(value, str) or value not in known | NOTIFICATION_ALIASES:
        raise ScenarioError(
            source, f"{what} must name one of its tools, 'timer' or 'subagent', got {value!r}", sid
        )
    return value


def _step(raw: Any, n: int, source: str, sid: str, known: frozenset[str] | set[str]) -> Step:
    what = f"step {n}"
    if not isinstance(raw, Mapping):
        raise ScenarioError(source, f"{what} must be a table like {{ user = '...' }}", sid)
    _unknown(raw, _STEP_KEYS, source, sid, what)
    if "at" in raw and ("after" in raw or "after_words" in raw):
        raise ScenarioError(source, f"{what}: 'at' cannot be combined with 'after' or 'after_words'", sid)
    user = raw.get("user")
    if user is not None and (not isinstance(user, str) or not user.strip()):
        raise ScenarioError(source, f"{what}: 'user' must be a non-empty string", sid)
    interrupt = raw.get("interrupt", False)
    if not isinstance(interrupt, bool):
        raise ScenarioError(source, f"{what}: 'interrupt' must be true or false", sid)
    if user is None and not interrupt:
        raise ScenarioError(source, f"{what} does nothing: give 'user', 'interrupt = true', or both", sid)
    at = None if "at" not in raw else _number(raw["at"], f"{what}: 'at'", source, sid)
    after_words = raw.get("after_words")
    if after_words is not None and (
        isinstance(after_words, bool) or not isinstance(after_words, int) or after_words < 1
    ):
        raise ScenarioError(source, f"{what}: 'after_words' must be a whole number >= 1", sid)
    after = raw.get("after", "start" if n == 1 or after_words is not None else "reply")
    if not isinstance(after, str):
        raise ScenarioError(source, f"{what}: 'after' must be a string", sid)
    head, _, name = after.partition(":")
    if after not in ("start", "reply", "settled") and head not in ("call", "notification"):
        raise ScenarioError(
            source,
            f"{what}: 'after' must be 'start', 'reply', 'settled', 'call:TOOL' or 'notification:TOOL', "
            f"got {after!r}",
            sid,
        )
    if head == "call" and name not in known:
        raise ScenarioError(source, f"{what}: 'after' names {name!r}, which is not one of its tools", sid)
    if head == "notification":
        _notification_name(name, f"{what}: 'after'", source, sid, known)
    delay = _number(raw.get("delay", 0.0), f"{what}: 'delay'", source, sid)
    return Step(n, at, after, after_words, delay, user, interrupt)


def _check(raw: Any, n: int, source: str, sid: str, known: frozenset[str] | set[str], steps: int) -> Check:
    what = f"check {n}"
    if not isinstance(raw, Mapping):
        raise ScenarioError(source, f"{what} must be a table like {{ call = 'tool' }}", sid)
    kinds = [k for k in CHECK_KINDS if k in raw]
    if len(kinds) != 1:
        raise ScenarioError(
            source, f"{what} needs exactly one of {list(CHECK_KINDS)}, got {kinds or 'none'}", sid
        )
    kind: CheckKind = kinds[0]  # type: ignore[assignment]
    _unknown(raw, {kind, "metric"} | _CHECK_QUALIFIERS[kind], source, sid, what)
    value = raw[kind]
    target: str | tuple[str, ...] | int
    if kind in ("call", "no_call"):
        # One tool, or a list: any one of them (``call = ["set_timer", "sleep"]``).
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
            raise ScenarioError(source, f"{what}: '{kind}' must be a tool name or a list of tool names", sid)
        unknown = [x for x in names if x not in known]
        if unknown:
            raise ScenarioError(
                source, f"{what}: {', '.join(map(repr, unknown))} is not one of its tools", sid
            )
        if len(set(names)) != len(names):
            raise ScenarioError(source, f"{what}: a tool is named twice in '{kind}'", sid)
        target = names[0] if len(names) == 1 else tuple(names)
    elif kind == "cancel":
        if not isinstance(value, str) or value not in known:
            raise ScenarioError(source, f"{what}: {value!r} is not one of its tools", sid)
        target = value
    elif kind in ("say", "not_say"):
        words = [value] if isinstance(value, str) else value
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            raise ScenarioError(source, f"{what}: '{kind}' must be a word or a list of words", sid)
        target = tuple(w.strip() for w in words)
    else:
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ScenarioError(source, f"{what}: 'no_repeat' must be a number of words >= 2", sid)
        target = value
    args = raw.get("args")
    if args is not None and not isinstance(args, Mapping):
        raise ScenarioError(source, f"{what}: 'args' must be a table", sid)
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ScenarioError(source, f"{what}: 'count' must be a whole number >= 0", sid)
    all_words = raw.get("all", False)
    if not isinstance(all_words, bool):
        raise ScenarioError(source, f"{what}: 'all' must be true or false", sid)
    before = raw.get("before")
    after = raw.get("after")
    if before is not None:
        before = _notification_name(before, f"{what}: 'before'", source, sid, known)
    if after is not None:
        after = _notification_name(after, f"{what}: 'after'", source, sid, known)
    after_step = raw.get("after_step")
    if after_step is not None and (
        isinstance(after_step, bool) or not isinstance(after_step, int) or not 1 <= after_step <= steps
    ):
        raise ScenarioError(source, f"{what}: 'after_step' must be a step number from 1 to {steps}", sid)
    by = None if raw.get("by") is None else _number(raw["by"], f"{what}: 'by'", source, sid)
    metric: Metric
    given = raw.get("metric")
    if given is None:
        if kind in ("call", "no_call", "cancel"):
            metric = "tools"
        elif kind in ("say", "not_say") and (before or after):
            metric = "notifications"
        else:
            metric = "answers"
    elif given in METRICS:
        metric = given
    else:
        raise ScenarioError(source, f"{what}: 'metric' must be one of {list(METRICS)}, got {given!r}", sid)
    return Check(kind, target, metric, args, count, all_words, before, after, after_step, by)
