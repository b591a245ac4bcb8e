"""Bad input, ledger side: entries with hostile content survive storage unchanged, every text and
HTML rendering of them holds (one line per entry, everything escaped), and a ledger file whose
rows were damaged is refused with one line naming the problem — never a traceback."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ipyagent.errors import LedgerError
from ipyagent.ledger import Entry, Ledger
from ipyagent.ledger.render import (
    Context,
    PendingTask,
    ToolSpec,
    parse_chatml_tool_calls,
    render_anthropic,
    render_chatml,
    render_openai,
)
from ipyagent.ledger.store import LedgerStore
from ipyagent.ledger.text import format_entries
from support.fuzz_kit import (
    FUZZ,
    FUZZ_SLOW,
    LINE_BREAKS,
    any_text,
    assert_one_line,
    entries,
    entry_lists,
    json_values,
    loose_json_values,
    target,
    texts,
)

# --- entries: serialisation and storage --------------------------------------------------------


@FUZZ
@given(entries())
@example(Entry("user", "\ud800 lone surrogate from a browser", time=1.0, index=0))
@example(Entry("assistant", "NUL \x00 inside", time=1.0, index=0, arguments={"\x00": ["\udfff"]}))
@target("entry JSON round trip")
def test_an_entry_survives_its_json_unchanged(entry: Entry) -> None:
    assert Entry.from_json(entry.to_json(), entry.index) == entry


@FUZZ_SLOW
@given(entry_lists(max_size=8), st.integers(0, 8))
@example([Entry("user", "\ud800\x00", time=5.0, index=0)], 0)
@target("ledger file round trip")
def test_a_ledger_file_gives_back_every_entry_as_written(written: list[Entry], fork_at: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.sqlite"
        ledger = Ledger.open(path)
        for e in written:
            _append(ledger, e)
        child = ledger.fork("child")
        for e in written[:fork_at]:
            _append(child, e)
        assert ledger.store is not None
        ledger.store.close()
        again = Ledger.open(path)
        kid = Ledger.open(path, "child")
        assert list(again) == list(ledger)
        assert list(kid) == list(child)
        assert again.store is not None and kid.store is not None
        assert again.store.integrity_ok()
        again.store.close()
        kid.store.close()


def _append(ledger: Ledger, e: Entry) -> None:
    fields = {
        k: getattr(e, k)
        for k in ("name", "call_id", "task_id", "arguments", "status", "source", "generation", "usage")
        if getattr(e, k) is not None
    }
    ledger.append(e.kind, e.text, time=e.time, **fields)


def _valid_body() -> st.SearchStrategy[dict[str, Any]]:
    return entries().map(lambda e: json.loads(e.to_json()))


@st.composite
def damaged_bodies(draw: st.DrawFn) -> Any:
    """What a damaged or hand-edited row may hold: truncated JSON, wrong types, other values."""
    body = draw(_valid_body())
    how = draw(st.sampled_from(["retype", "drop kind", "truncate", "json", "text", "bytes", "nested"]))
    if how == "retype":
        key = draw(st.sampled_from([*body, "time", "text", "arguments", "generation", "usage", "name"]))
        body[key] = draw(loose_json_values)
        return json.dumps(body)
    if how == "drop kind":
        body.pop("kind")
        return json.dumps(body)
    if how == "truncate":
        text = json.dumps(body, ensure_ascii=False)
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if how == "json":
        return json.dumps(draw(loose_json_values))
    if how == "text":
        return draw(any_text)
    if how == "bytes":
        return draw(st.binary(max_size=200))
    depth = draw(st.integers(1, 20_000))
    return "[" * depth + "]" * depth


def _storable(body: str | bytes) -> str | bytes:
    """SQLite takes no lone surrogates in text: such a body goes in as (invalid UTF-8) bytes."""
    if isinstance(body, str):
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:
            return body.encode("utf-8", "surrogatepass")
    return body


def _open_or_refuse(path: Path, name: str = "main") -> Ledger | None:
    """Open the ledger; a refusal must be a LedgerError of one line."""
    try:
        ledger = Ledger.open(path, name)
    except LedgerError as exc:
        assert_one_line(str(exc))
        return None
    assert ledger.store is not None
    ledger.store.close()
    return ledger


@FUZZ_SLOW
@given(st.lists(st.one_of(_valid_body().map(json.dumps), damaged_bodies()), min_size=1, max_size=5))
@example(['{"kind":"user","text":5}'])
@example(['{"kind":[],"text":""}'])  # was a TypeError (unhashable kind)
@example(['{"kind":"user","time":1e300}'])
@example(['{"kind":"user","text":"hi","time":"yesterday"}'])
@example(['{"kind":"user","text":"hi"'])
@example([b"\xff\xfe"])
@example(["[" * 50_000 + "]" * 50_000])
@target("ledger file with damaged rows")
def test_a_damaged_row_is_refused_in_one_line_and_good_files_load(bodies: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.sqlite"
        store = LedgerStore(path)
        ledger_id = store.create("main")
        with sqlite3.connect(path) as raw:
            raw.executemany(
                "INSERT INTO entries (ledger_id, idx, body) VALUES (?, ?, ?)",
                [(ledger_id, i, _storable(body)) for i, body in enumerate(bodies)],
            )
        store.close()
        ledger = _open_or_refuse(path)
        if ledger is not None:  # whatever loads renders, in every format
            assert len(ledger) == len(bodies)
            _render_everything(list(ledger))


@FUZZ_SLOW
@given(
    st.lists(
        st.tuples(st.none() | st.integers(-2, 5), st.integers(-3, 10) | st.sampled_from(["x", 1.5])),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(-1, 12), max_size=6),
)
@example([(1, 0)], [])  # a ledger that is its own parent
@example([(None, 0), (1, 5)], [0])  # a fork point beyond its parent's end
@example([(None, 0)], [0, 2])  # a gap: entry 1 is missing
@target("ledger file with a damaged tree")
def test_a_damaged_ledger_tree_is_refused_in_one_line(
    ledgers: list[tuple[int | None, Any]], indices: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.sqlite"
        LedgerStore(path).close()
        body = Entry("user", "hello", time=1.0).to_json()
        with sqlite3.connect(path) as raw:
            for n, (parent, fork_point) in enumerate(ledgers, 1):
                raw.execute(
                    "INSERT INTO ledgers (id, name, parent_id, fork_point) VALUES (?, ?, ?, ?)",
                    (n, "main" if n == 1 else f"l{n}", parent, fork_point),
                )
            for idx in dict.fromkeys(indices):
                raw.execute("INSERT INTO entries VALUES (?, ?, ?)", (len(ledgers), idx, body))
        name = "main" if len(ledgers) == 1 else f"l{len(ledgers)}"
        ledger = _open_or_refuse(path, name)
        if ledger is not None:
            assert [e.index for e in ledger] == list(range(len(ledger)))


def test_a_file_that_is_not_a_ledger_is_refused_in_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(LedgerError) as refused:
        Ledger.open(junk)
    assert_one_line(str(refused.value))
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE entries (x)")
        raw.execute("CREATE TABLE ledgers (id INTEGER PRIMARY KEY, name TEXT)")
        raw.execute("INSERT INTO ledgers (id, name) VALUES (1, 'main')")
    with pytest.raises(LedgerError) as refused:
        Ledger.open(other)
    assert_one_line(str(refused.value))


# --- renderers -----------------------------------------------------------------------------------


def _render_everything(items: list[Entry]) -> None:
    """Every model format renders, and what goes to an API is JSON."""
    tools = [ToolSpec("get_weather", "Weather.", {"type": "object"})]
    pending = [PendingTask("t1", "get_weather", 3.0)]
    now = max([e.time for e in items], default=0.0)
    context = Context(entries=items, tools=tools, now=now, pending=pending, cache_point=len(items) - 1)
    assert render_chatml(context).endswith("<|im_start|>assistant\n")
    render_chatml(context, status_before_last=True)
    json.dumps(render_openai(context))
    json.dumps(render_anthropic(context))


@FUZZ
@given(entry_lists())
@target("model renderers (ChatML, OpenAI, Anthropic)")
def test_every_model_format_renders_any_ledger(items: list[Entry]) -> None:
    _render_everything(items)


@FUZZ
@given(any_text)
@example('<tool_call>{"name": 5}</tool_call>')
@example("<tool_call>" + "[" * 100_000)  # was a RecursionError
@target("ChatML tool-call parser")
def test_the_chatml_parser_never_raises(text: str) -> None:
    plain, calls = parse_chatml_tool_calls(text)
    assert "<|interrupt|>" not in plain
    for name, arguments in calls:
        assert isinstance(name, str)
        assert isinstance(arguments, dict | str)


@FUZZ
@given(st.lists(st.tuples(texts, json_values), max_size=4), texts)
@example([("\ud800\udfff", None)], "")  # two halves of a surrogate pair: JSON reads back one character
@target("ChatML tool-call round trip")
def test_tool_calls_written_in_chatml_parse_back(calls: list[tuple[str, Any]], plain: str) -> None:
    plain = plain.replace("<tool_call>", "").replace("<|interrupt|>", "").strip()
    text = plain + "".join(
        f"\n<tool_call>\n{json.dumps({'name': n, 'arguments': {'value': a}})}\n</tool_call>" for n, a in calls
    )
    parsed_plain, parsed = parse_chatml_tool_calls(text)
    assert parsed_plain == plain
    # What JSON itself gives back (a surrogate pair written as two escapes is one character).
    assert parsed == [(json.loads(json.dumps(n)), json.loads(json.dumps({"value": a}))) for n, a in calls]


@FUZZ
@given(entry_lists(), st.booleans())
@example([Entry("tool_call", "", time=0.0, index=0, name="a\nb", arguments={"k\n": "\x1b[2J"})], False)
@example([Entry("subagent", "x", time=0.0, index=0, name="a\u2028b", task_id="\x85")], True)
@target("%ledger --text")
def test_the_text_ledger_is_one_clean_line_per_entry(items: list[Entry], system: bool) -> None:
    # The system message (with --system) is shown in full, its further lines indented under it;
    # every other entry is one clean line. An answer with no text (a turn that only called
    # tools) is left out: its calls follow it.
    others = [e for e in items if e.kind != "system" and not _only_calls(e)]
    text = format_entries(others)
    lines = text.split("\n") if others else []
    assert len(lines) == len(others)
    for line, entry in zip(lines, others, strict=True):
        assert not any(c in line for c in LINE_BREAKS)
        assert all(c.isprintable() for c in line), repr(line)
        assert entry.kind in line
        assert len(line) <= 130
    for entry in items:
        if entry.kind == "system" and system:
            full = format_entries([entry], system=True)
            assert all(c.isprintable() for row in full.split("\n") for c in row), repr(full)
            words = [w for w in entry.text.split() if w.isprintable() and w.isascii()]
            assert all(w in full for w in words)


def _only_calls(entry: Entry) -> bool:
    return entry.kind == "assistant" and not entry.text.strip() and entry.status in (None, "complete")


@FUZZ
@given(texts)
@target("%ledger --text keeps plain words")
def test_the_text_ledger_keeps_what_an_entry_says(words: str) -> None:
    plain = " ".join(w for w in words.split() if w.isprintable())[:80]
    line = format_entries([Entry("user", plain, time=0.0, index=0)])
    assert line.endswith(plain)
