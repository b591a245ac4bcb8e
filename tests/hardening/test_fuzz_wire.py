"""Bad input, widget comm messages: whatever the browser sends — wrong types, missing fields,
unknown kinds, nested garbage, huge payloads — each widget checks it against its declared type in
``wire.py`` before using it. A bad one is refused with one line (an ``error`` message back to the
view; the voice widget's status line) and never raises into the kernel's comm handler."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, NotRequired, get_origin, get_type_hints

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ipyagent import Agent, RealClock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.widgets import (
    AgentWidget,
    agent_tree,
    chat_box,
    ledger_view,
    notifications,
    state_indicator,
    timeline,
    wire,
)
from ipyagent.widgets.voice import VoiceWidget
from ipyagent.widgets.wire import MAX_FIELD, MAX_MESSAGE, WireError, parse_client, parse_voice
from support.fuzz_kit import FUZZ, FUZZ_SLOW, assert_one_line, huge_texts, loose_json_values, target, texts

AGENT_KINDS = sorted(wire._FIELDS)
VOICE_KINDS = sorted(wire._VOICE_FIELDS)
VALUES: dict[type, st.SearchStrategy[Any]] = {
    str: texts,
    int: st.integers(-(2**40), 2**40),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
}


@st.composite
def browser_messages(draw: st.DrawFn, table: dict[str, dict[str, tuple[type, ...]]]) -> Any:
    """Well-formed messages, messages with one field wrong or missing, and plain garbage."""
    how = draw(st.sampled_from(["valid", "valid", "one wrong", "unknown kind", "garbage", "huge"]))
    kind = draw(st.sampled_from(sorted(table)))
    fields = {**table[kind], **wire._OPTIONAL.get(kind, {})}
    msg: dict[str, Any] = {"type": kind}
    for name, types in fields.items():
        msg[name] = draw(st.one_of(*(VALUES[t] for t in types)))
    if how == "one wrong" and fields:
        name = draw(st.sampled_from(sorted(fields)))
        if draw(st.booleans()):
            del msg[name]
        else:
            msg[name] = draw(loose_json_values)
    elif how == "unknown kind":
        msg["type"] = draw(st.one_of(texts, loose_json_values))
    elif how == "garbage":
        return draw(st.one_of(loose_json_values, st.dictionaries(texts, loose_json_values, max_size=4)))
    elif how == "huge":
        name = draw(st.sampled_from(sorted(fields) or ["type"]))
        msg[name] = draw(huge_texts)
    if draw(st.booleans()):
        msg[draw(texts)] = draw(loose_json_values)  # extra keys are ignored
    return msg


def _follows_contract(
    msg: Any, allowed: frozenset[str], table: dict[str, dict[str, tuple[type, ...]]]
) -> bool:
    """The contract, restated independently of wire.py's code."""
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return False
    if msg["type"] not in allowed or msg["type"] not in table:
        return False
    kind = msg["type"]
    for field, types in {**table[kind], **wire._OPTIONAL.get(kind, {})}.items():
        if field not in msg and field in wire._OPTIONAL.get(kind, {}):
            continue
        value = msg.get(field)
        if isinstance(value, bool) and bool not in types:
            return False
        if not isinstance(value, types) or (isinstance(value, float) and not math.isfinite(value)):
            return False
        if isinstance(value, str) and len(value) > (MAX_MESSAGE if field == "text" else MAX_FIELD):
            return False
    return True


@FUZZ
@given(browser_messages(wire._FIELDS), st.sets(st.sampled_from(AGENT_KINDS)))
@example({"type": "send", "text": "x" * (MAX_MESSAGE + 1)}, {"send"})
@example({"type": "send", "text": None}, {"send"})
@example({"type": "cancel", "path": ["main"]}, {"cancel"})
@example([[[[[[]]]]]], {"sync"})
@example({"type": {"nested": "garbage"}}, {"sync"})
@target("wire: agent widget messages")
def test_agent_widget_messages_are_checked_against_the_contract(msg: Any, allowed: set[str]) -> None:
    accepts = frozenset(allowed)
    try:
        checked = parse_client(msg, accepts)
    except WireError as exc:
        assert_one_line(str(exc))
        assert not _follows_contract(msg, accepts, wire._FIELDS)
        return
    assert checked is msg
    assert _follows_contract(msg, accepts, wire._FIELDS)


@FUZZ
@given(browser_messages(wire._VOICE_FIELDS))
@example({"type": "playback", "chunk": 1, "played": float("inf"), "done": True})
@example({"type": "playback", "chunk": True, "played": 1, "done": 1})
@example({"type": "mic", "rate": "16000"})
@example({"type": "stopped", "chunks": "all"})
@target("wire: voice widget messages")
def test_voice_messages_are_checked_against_the_contract(msg: Any) -> None:
    try:
        checked = parse_voice(msg)
    except WireError as exc:
        assert_one_line(str(exc))
        assert not _follows_contract(msg, wire.VOICE_KINDS, wire._VOICE_FIELDS)
        return
    assert checked is msg
    assert _follows_contract(msg, wire.VOICE_KINDS, wire._VOICE_FIELDS)


# --- the widgets themselves ---------------------------------------------------------------------


def _sent_by(widget: AgentWidget) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    widget._send = lambda msg, buffers=None: messages.append(msg)  # type: ignore[method-assign]
    return messages


@pytest.fixture(scope="module")
def widgets() -> Any:
    agent = Agent(ScriptedBackend.from_list([{"text": "hi"}], RealClock()), builtins=False)
    made = [
        make(agent) for make in (ledger_view, notifications, chat_box, state_indicator, agent_tree, timeline)
    ]
    yield made
    for w in made:
        w.close()


@FUZZ_SLOW
@given(st.lists(browser_messages(wire._FIELDS), min_size=1, max_size=6), st.data())
@example([{"type": "send", "text": "hello"}, {"type": "cancel", "path": "main/\n<x>"}], None)
@example(
    [{"type": "follow", "path": "\x00" * 5000}, {"type": "hello"}, {"type": "bye"}, {"type": "bye"}], None
)
@target("widgets: comm messages from the browser")
def test_no_browser_message_raises_into_the_kernel(
    widgets: list[AgentWidget], msgs: list[Any], data: Any
) -> None:
    for widget in widgets:
        sent = _sent_by(widget)
        for msg in msgs:
            widget._receive(widget, msg, [])
            accepted = _follows_contract(msg, widget.accepts | {"hello", "bye"}, wire._FIELDS)
            errors = [
                m["content"]["text"]
                for m in sent
                if m.get("method") == "custom" and m["content"]["type"] == "error"
            ]
            if not accepted:
                assert errors, f"{type(widget).__name__} took {msg!r:.200}"
            for text in errors:
                assert_one_line(text)
            sent.clear()
        assert widget._views is None or widget._views >= 0


class FakePipeline:
    """Records what the voice widget asks of the audio pipeline."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.vad = self

    def reset(self) -> None:
        self.calls.append(("reset", ()))

    def restart_sequence(self) -> None:
        self.calls.append(("restart", ()))

    def feed(self, *args: Any) -> None:
        self.calls.append(("feed", args))

    def call(self, fn: Any, *args: Any) -> None:
        fn(*args)

    def submit_frame(self, data: Any, rate: Any, seq: Any = None) -> None:
        self.calls.append(("frame", (data, rate, seq)))

    def submit_playback(self, chunk: Any, played: Any, done: Any) -> None:
        assert isinstance(chunk, int) and isinstance(played, int) and isinstance(done, bool)
        self.calls.append(("playback", (chunk, played, done)))


@FUZZ
@given(browser_messages(wire._VOICE_FIELDS), st.lists(st.binary(max_size=64), max_size=2))
@example({"type": "playback", "chunk": 3, "played": float("inf"), "done": True}, [])  # was an OverflowError
@example({"type": "playback", "chunk": 3, "played": float("nan"), "done": False}, [])  # was a ValueError
@example({"type": "mic", "rate": 16000}, [b"\x00\x01"])
@example({"type": "error", "text": "microphone: NotAllowedError:\nPermission denied"}, [])
@target("voice widget: comm messages from the browser")
def test_the_voice_widget_refuses_bad_messages_in_one_line(
    voice: VoiceWidget, msg: Any, buffers: list[bytes]
) -> None:
    pipeline = FakePipeline()
    voice.pipeline = pipeline  # type: ignore[assignment]
    voice.refused, voice.status = 0, ""
    voice._on_custom(voice, msg, buffers)
    if not _follows_contract(msg, wire.VOICE_KINDS, wire._VOICE_FIELDS):
        assert voice.refused == 1 and pipeline.calls == []
        assert_one_line(voice.status)
    else:
        assert voice.refused == 0
        if msg["type"] == "error":
            assert_one_line(voice.status)
        if msg["type"] == "mic":
            assert len(pipeline.calls) == 1


@pytest.fixture(scope="module")
def voice() -> Any:
    widget = VoiceWidget()
    yield widget
    widget.close()


# --- the TypeScript side declares the same voice messages ---------------------------------------

D_TS = (Path(wire.__file__).parent / "js" / "wire.d.ts").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name", ["MicMsg", "PlaybackMsg", "MicStateMsg", "ReadyMsg", "StoppedMsg", "BrowserErrorMsg"]
)
def test_voice_messages_have_the_same_fields_in_typescript(name: str) -> None:
    found = re.search(r"export interface " + name + r"\s*\{(.*?)\}", D_TS, re.S)
    assert found, f"{name} is missing from wire.d.ts"
    ts = {m.group(1): bool(m.group(2)) for m in re.finditer(r"(\w+)(\??):", found.group(1))}
    hints = get_type_hints(getattr(wire, name), include_extras=True)
    assert {f: get_origin(h) is NotRequired for f, h in hints.items()} == ts
    kind = re.search(r'type: "(\w+)"', found.group(1))
    assert kind and kind.group(1) in wire.VOICE_KINDS


def test_the_voice_module_sends_only_declared_messages() -> None:
    js = (Path(wire.__file__).parent / "voice.js").read_text(encoding="utf-8")
    sent = set(re.findall(r'model\.send\(\{\s*type:\s*"(\w+)"', js))
    assert sent and sent <= wire.VOICE_KINDS
