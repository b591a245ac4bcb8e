"""Bad input, files a user writes: a scripted-model script (a JSON list, a file, ``%model
scripted:PATH``) and an eval suite (TOML). Anything is either loaded — and then works — or
refused with one line naming the file and what to fix; nothing else is ever raised."""

from __future__ import annotations

import copy
import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import anyio
from hypothesis import example, given
from hypothesis import strategies as st

from ipyagent.dispatch.backends import ScriptedBackend, TextChunk, ToolCallChunk, resolve
from ipyagent.dispatch.backends.scripted import ScriptTurn, load_script, parse_turns
from ipyagent.errors import IpyagentError, ScriptError
from ipyagent.eval.loader import builtin_suites, load_suite, parse_suite
from ipyagent.eval.scenario import ScenarioError
from ipyagent.ledger.render import Context
from ipyagent.testing import VirtualClock
from support.fuzz_kit import (
    FUZZ,
    FUZZ_SLOW,
    any_text,
    assert_one_line,
    json_values,
    loose_json_values,
    target,
    texts,
)

# --- scripts ---------------------------------------------------------------------------------------

turn_like = st.fixed_dictionaries(
    {},
    optional={
        "delay": st.one_of(st.floats(0, 100), st.integers(-5, 10), json_values),
        "text": st.one_of(texts, json_values),
        "agent": st.one_of(texts, json_values),
        "tool_calls": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"name": st.one_of(texts, json_values), "arguments": json_values}
                ),
                max_size=3,
            ),
            json_values,
        ),
        "extra": json_values,
    },
)


def _refused(exc: IpyagentError, naming: str = "") -> None:
    assert_one_line(str(exc))
    assert naming in str(exc)


@FUZZ
@given(st.one_of(st.lists(turn_like, max_size=5), loose_json_values))
@example([{"delay": float("nan"), "text": "x"}])
@example([{"delay": True, "text": "x"}])
@example([{"tool_calls": [{"name": "a\nb", "arguments": []}]}])
@target("script loader (lists)")
def test_a_script_list_loads_or_is_refused_in_one_line(raw: Any) -> None:
    try:
        turns = parse_turns(raw, "<list>")
    except ScriptError as exc:
        _refused(exc)
        return
    assert len(turns) == len(raw)
    for turn, item in zip(turns, raw, strict=True):
        assert turn.text == item.get("text", "")
        assert 0 <= turn.delay < 86400
        assert [c.name for c in turn.tool_calls] == [c["name"] for c in item.get("tool_calls", [])]


@FUZZ
@given(st.one_of(any_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=300)))
@example(b"[" * 100_000)
@example(b'[{"text": "ok"}')
@example(b"\xff\xfe[]")
@target("script loader (files)")
def test_a_script_file_loads_or_is_refused_in_one_line(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.json"
        path.write_bytes(content)
        try:
            load_script(path)
        except ScriptError as exc:
            _refused(exc, naming=str(path))


@FUZZ
@given(texts)
@example("scripted:\x00")
@example("scripted:/no/such/dir/\nscript.json")
@example("scripted:" + "a" * 5000)
@example("bogus:thing")
@target("%model SPEC (scripted and unknown)")
def test_a_model_spec_resolves_or_is_refused_in_one_line(spec: str) -> None:
    if spec.strip().partition(":")[0] in ("local", "openai", "anthropic"):
        spec = "scripted:" + spec  # the real providers are not started here
    try:
        resolve(spec, VirtualClock())
    except IpyagentError as exc:
        _refused(exc)


good_turns = st.lists(
    st.fixed_dictionaries(
        {"text": texts.filter(lambda t: t != "")},
        optional={
            "delay": st.floats(0, 5),
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {"name": texts}, optional={"arguments": st.dictionaries(texts, json_values, max_size=3)}
                ),
                max_size=2,
            ),
        },
    ),
    min_size=1,
    max_size=4,
)


@FUZZ_SLOW
@given(good_turns)
@target("scripted backend replay")
def test_a_script_streams_back_exactly_what_it_says(raw: list[dict[str, Any]]) -> None:
    """Through a file and back, every turn's text and tool calls reach the agent unchanged."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.json"
        path.write_text(json.dumps(raw), encoding="utf-8")

        async def replay() -> list[tuple[str, list[Any]]]:
            out = []
            async with VirtualClock() as clock:
                backend = ScriptedBackend.from_file(path, clock)
                for _ in raw:
                    chunks = [c async for c in backend.stream(Context(entries=[]), agent="main")]
                    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
                    calls = [
                        (c.call.name, dict(c.call.arguments))
                        for c in chunks
                        if isinstance(c, ToolCallChunk) and isinstance(c.call.arguments, dict)
                    ]
                    out.append((text, calls))
            return out

        got = anyio.run(replay)
    want = [(t["text"], [(c["name"], c.get("arguments", {})) for c in t.get("tool_calls", [])]) for t in raw]
    assert got == want


# --- eval suites -------------------------------------------------------------------------------------

SHIPPED = {name: tomllib.loads(path.read_text(encoding="utf-8")) for name, path in builtin_suites().items()}
toml_values = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(),  # TOML has nan and inf
        texts,
        st.datetimes(),
        st.dates(),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def damaged_suites(draw: st.DrawFn) -> dict[str, Any]:
    """A shipped suite with a few of its values, anywhere, replaced or removed."""
    raw = copy.deepcopy(SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))])
    for _ in range(draw(st.integers(1, 3))):
        node: Any = raw
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
                del node[key]
            else:
                node[key] = draw(toml_values)
            break
    return raw


@FUZZ
@given(st.one_of(damaged_suites(), st.dictionaries(texts, toml_values, max_size=4)))
@example(
    {**SHIPPED["async_basics"], "tools": {"t": {"description": "d", "optional": [[1]]}}}
)  # was a TypeError
@example(
    {
        "scenario": [
            {"id": "a", "behaviour": "timer", "steps": [{"user": "u", "after_words": True}], "checks": []}
        ]
    }
)
@target("eval suite loader (TOML values)")
def test_a_suite_loads_or_is_refused_in_one_line(raw: dict[str, Any]) -> None:
    try:
        suite = parse_suite(raw, "suite.toml")
    except ScenarioError as exc:
        _refused(exc)
        return
    # A suite that loads can be run: its tools answer any call, its checks describe themselves.
    for scenario in suite.scenarios:
        for tool in scenario.tools:
            assert isinstance(tool.answer({"city": "Paris", "x": [1]}), str)
            assert isinstance(tool.answer({}), str)
        for check in scenario.checks:
            assert check.describe()
        for step in scenario.steps:
            assert step.describe()


@FUZZ
@given(
    st.sampled_from(["{0}", "{}", "{a.b}", "{a[0]}", "{a!r}", "{a:>10}", "{", "}", "{{ok}}", "{city}"]),
    st.sampled_from(sorted(SHIPPED)),
)
@target("eval suite result templates")
def test_a_result_template_is_checked_when_the_suite_loads(template: str, name: str) -> None:
    raw = copy.deepcopy(SHIPPED[name])
    tool = next(iter(raw["tools"]))
    raw["tools"][tool]["result"] = template
    try:
        suite = parse_suite(raw, "suite.toml")
    except ScenarioError as exc:
        _refused(exc)
        assert template not in ("{{ok}}", "{city}")
        return
    for scenario in suite.scenarios:
        for sim in scenario.tools:
            sim.answer({"a": "x"})


@FUZZ
@given(st.one_of(any_text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
@example('[[scenario]]\nid = "x"\nbehaviour = "timer"\n' + "a = " + "[" * 5000)
@example("x = nan\n")
@target("eval suite loader (files)")
def test_a_suite_file_loads_or_is_refused_in_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_suite(path)
        except ScenarioError as exc:
            _refused(exc)


def test_the_shipped_suites_still_load() -> None:
    for name, raw in SHIPPED.items():
        assert parse_suite(raw, name).scenarios


_ = ScriptTurn  # the loaders' result type, imported for readers of the properties above
