"""The scripted backend: a clear error for every way a script file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipyagent import Agent
from ipyagent.dispatch.backends import ScriptedBackend, TextChunk, ToolCallChunk, UsageChunk
from ipyagent.dispatch.backends.scripted import load_script
from ipyagent.errors import IpyagentError, ScriptError
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "script.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON (line 1, column 1"),
        ({"turns": []}, "expected a JSON list of turns, got dict"),
        ([1], "turn 0: a turn must be an object, got int"),
        (
            [{"text": "a"}, {"delay": -1, "text": "b"}],
            "turn 1: 'delay' must be a number of seconds >= 0, got -1",
        ),
        ([{"text": 5}], "turn 0: 'text' must be a string, got int"),
        ([{"txt": "typo"}], "turn 0: unknown key(s) ['txt']"),
        ([{"tool_calls": [{"arguments": {}}]}], "turn 0: tool call 0 needs a string 'name'"),
        ([{"delay": 1}], "turn 0: a turn needs 'text' or 'tool_calls'"),
    ],
)
def test_bad_scripts_name_the_file_and_the_turn(tmp_path: Path, content: object, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ScriptError) as info:
        load_script(path)
    assert str(info.value).startswith(f"bad model script {path}")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="file not found"):
        Agent(f"scripted:{tmp_path / 'nope.json'}")


def test_unknown_model_string_is_a_clear_error() -> None:
    with pytest.raises(IpyagentError, match=r"unknown model .gpt9.; use"):
        Agent("gpt9")


async def test_text_streams_over_the_delay_on_the_clock(tmp_path: Path) -> None:
    path = write(tmp_path, [{"delay": 2.0, "text": "one two three four", "tool_calls": [{"name": "f"}]}])
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_file(path, clock)
        seen = []
        async for chunk in backend.stream(Context(entries=()), agent="main"):
            seen.append((clock.now(), chunk))
        texts = [(t, c.text) for t, c in seen if isinstance(c, TextChunk)]
        assert texts == [(0.5, "one "), (1.0, "two "), (1.5, "three "), (2.0, "four")]
        calls = [c.call for _, c in seen if isinstance(c, ToolCallChunk)]
        assert [(c.name, dict(c.arguments)) for c in calls] == [("f", {})]
        usage = next(c.usage for _, c in seen if isinstance(c, UsageChunk))
        assert usage.first_token_seconds == 0.5 and usage.total_seconds == 2.0
