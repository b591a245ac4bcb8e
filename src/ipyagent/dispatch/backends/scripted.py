"""``scripted:PATH``: replays a fixed list of model turns, for tests and demos of the mechanics.

The file is a JSON list of turns::

    [{"delay": 0.5, "text": "Let me plan that.", "tool_calls": [{"name": "plan_itinerary",
      "arguments": {"city": "Paris", "days": 3}, "at": 0.2}]},
     {"delay": 0.5, "text": "It is sunny in Paris.", "agent": "main"}]

Each generation takes the next unused turn whose ``agent`` (optional) is the generating agent's
name; the text streams word by word over ``delay`` seconds of the agent's clock. A tool call is
complete ``at`` seconds into the turn (default: at ``delay``, after the text), so a script can
model the time a model spends decoding each call; the turn lasts until its last word or call. It
never reads the context: it is not a model, and never the default.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...clock import Clock
from ...errors import ModelError, ScriptError, read_user_file
from ...events import ToolCallRequest, Usage
from ...ledger.render.context import Context
from .base import Chunk, TextChunk, ToolCallChunk, UsageChunk

_TURN_KEYS = {"delay", "text", "tool_calls", "agent"}
_CALL_KEYS = {"name", "arguments", "at"}


@dataclass(frozen=True, slots=True)
class ScriptTurn:
    delay: float
    text: str
    tool_calls: tuple[ToolCallRequest, ...]
    agent: str | None
    # When each call's arguments are complete, in seconds from the turn's start (None: at delay).
    call_times: tuple[float | None, ...] = ()


def parse_turns(raw: Any, source: str) -> list[ScriptTurn]:
    """Check and convert a decoded script; raises ScriptError naming the source and the bad turn."""
    if not isinstance(raw, list):
        raise ScriptError(source, f"expected a JSON list of turns, got {type(raw).__name__}")
    turns = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ScriptError(source, f"a turn must be an object, got {type(item).__name__}", i)
        unknown = set(item) - _TURN_KEYS
        if unknown:
            raise ScriptError(source, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TURN_KEYS)}", i)
        delay = item.get("delay", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 86400:
            raise ScriptError(source, f"'delay' must be a number of seconds >= 0, got {delay!r}", i)
        text = item.get("text", "")
        if not isinstance(text, str):
            raise ScriptError(source, f"'text' must be a string, got {type(text).__name__}", i)
        agent = item.get("agent")
        if agent is not None and not isinstance(agent, str):
            raise ScriptError(source, "'agent' must be a string", i)
        calls = item.get("tool_calls", [])
        if not isinstance(calls, list):
            raise ScriptError(source, "'tool_calls' must be a list", i)
        parsed = []
        times: list[float | None] = []
        for j, call in enumerate(calls):
            if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
                raise ScriptError(source, f"tool call {j} needs a string 'name'", i)
            unknown = set(call) - _CALL_KEYS
            if unknown:
                raise ScriptError(
                    source,
                    f"tool call {j}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_CALL_KEYS)}",
                    i,
                )
            args = call.get("arguments", {})
            if not isinstance(args, Mapping | str):
                raise ScriptError(source, f"tool call {j}: 'arguments' must be an object", i)
            at = call.get("at")
            if at is not None and (
                isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at < 86400
            ):
                raise ScriptError(
                    source, f"tool call {j}: 'at' must be a number of seconds >= 0, got {at!r}", i
                )
            parsed.append(ToolCallRequest(call["name"], args))
            times.append(None if at is None else float(at))
        if not text and not parsed:
            raise ScriptError(source, "a turn needs 'text' or 'tool_calls'", i)
        turns.append(ScriptTurn(float(delay), text, tuple(parsed), agent, tuple(times)))
    return turns


def load_script(path: str | Path) -> list[ScriptTurn]:
    """Read a script file; raises ScriptError with the file name and what is wrong."""
    source = str(path)
    text = read_user_file(path, ScriptError)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScriptError(
            source, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ScriptError(source, "its JSON is nested too deeply") from None
    return parse_turns(raw, source)


class ScriptedBackend:
    """Replays :class:`ScriptTurn` s in order, on the given clock. Shared by an agent and its
    sub-agents (each takes the turns meant for it)."""

    def __init__(self, turns: Sequence[ScriptTurn], clock: Clock, source: str = "<script>") -> None:
        self.name = f"scripted:{source}"
        self._turns = list(turns)
        self._used = [False] * len(self._turns)
        self._clock = clock
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path, clock: Clock) -> ScriptedBackend:
        return cls(load_script(path), clock, str(path))

    @classmethod
    def from_list(cls, turns: Any, clock: Clock) -> ScriptedBackend:
        return cls(parse_turns(turns, "<list>"), clock, "<list>")

    @property
    def remaining(self) -> int:
        return self._used.count(False)

    def _take(self, agent: str) -> ScriptTurn:
        for i, turn in enumerate(self._turns):
            if not self._used[i] and turn.agent in (None, agent):
                self._used[i] = True
                return turn
        raise ModelError(
            f"the script {self.source} has no turn left for agent {agent!r} "
            f"({len(self._turns)} turns, all used); add turns to the script",
            category="script",
        )

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        turn = self._take(agent)
        started = self._clock.now()
        words = turn.text.split(" ") if turn.text else []
        pieces = [w + " " for w in words[:-1]] + words[-1:]
        steps = max(1, len(pieces))
        # (seconds into the turn, position): words spread over the delay, then each call at its
        # time; at equal times words come first, then calls in script order. A call has no id:
        # the dispatcher gives each one a unique id.
        order = [(turn.delay * (n + 1) / steps, n) for n in range(len(pieces))]
        order += [(turn.delay, len(pieces) + n) for n in range(len(turn.tool_calls))]
        for n, at in enumerate(turn.call_times[: len(turn.tool_calls)]):
            if at is not None:
                order[len(pieces) + n] = (at, len(pieces) + n)
        if any(at is not None for at in turn.call_times):  # calls at their own times: merge them in
            order.sort()
        timeline = (
            (at, TextChunk(pieces[n]) if n < len(pieces) else ToolCallChunk(turn.tool_calls[n - len(pieces)]))
            for at, n in order
        )
        first: float | None = None
        for at, chunk in timeline:
            wait = started + at - self._clock.now()
            if wait > 0:
                await self._clock.sleep(wait)
            if first is None and isinstance(chunk, TextChunk):
                first = self._clock.now() - started
            yield chunk
        end = max(turn.delay, order[-1][0]) if order else turn.delay  # order ends with its latest
        wait = started + end - self._clock.now()
        if wait > 0:
            await self._clock.sleep(wait)
        yield UsageChunk(
            Usage(
                input_tokens=len(context.entries),
                output_tokens=len(pieces),
                first_token_seconds=first,
                total_seconds=self._clock.now() - started,
            )
        )
