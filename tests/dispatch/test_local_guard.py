"""The local model's output guard, decoding a toy vocabulary with a model that wants to loop or copy:
arguments and answers stay bounded and never degenerate, whatever the model prefers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ipyagent.dispatch.backends.guard import OutputGuard, repeating_unit
from ipyagent.dispatch.backends.local.backend import answer_lead
from ipyagent.ledger import Entry

np = pytest.importorskip("numpy")

STATUS = "Now: 2026-01-01 09:00:08 UTC. Tasks: t1 order_parts (running 8.0 s)."
# A vocabulary: single characters (so anything can be written) and a few longer pieces.
PIECES = [chr(c) for c in range(32, 127)] + [
    "_glass",
    "glass",
    "I'm",
    " sorry",
    " for",
    " the",
    " error",
    "2026",
]
INDEX = {p: i for i, p in enumerate(PIECES)}


def decode(wants: Callable[[str], list[str]], guard: OutputGuard, steps: int = 60) -> str:
    """Greedy decoding: ``wants(text)`` lists the pieces the "model" prefers next, best first."""
    ids = [INDEX["a"]] * guard.prompt_tokens  # the prompt
    text = ""
    for _ in range(steps):
        scores = np.full(len(PIECES), -10.0)
        for rank, piece in enumerate(wants(text)):
            scores[INDEX[piece]] = 10.0 - rank
        scores = guard(np.array(ids), scores)
        token = int(np.argmax(scores))
        ids.append(token)
        text += PIECES[token]
        if PIECES[token] == '"':
            break
    return text


def test_a_looping_argument_gets_at_most_two_copies_of_its_unit() -> None:
    guard = OutputGuard(PIECES, prompt_tokens=5, prefix='{"instrument": "')
    start = list("confocal_microscope")

    def wants(text: str) -> list[str]:
        return [start[len(text)]] if len(text) < len(start) else ["_glass", "_", '"']

    written = decode(wants, guard)
    assert written == 'confocal_microscope_glass_glass"'
    assert guard.stopped["repetition"] >= 1


def test_a_looping_sentence_is_said_once_more_at_most() -> None:
    guard = OutputGuard(PIECES, prompt_tokens=3)
    sentence = ["I'm", " sorry", " for", " the", " error", ".", " "]

    def wants(text: str) -> list[str]:
        """A model that keeps apologising, and would rather put a full stop than anything else."""
        for n, piece in enumerate(sentence):
            if text.endswith(piece):
                return [sentence[(n + 1) % len(sentence)], ".", '"']
        return [sentence[0]]

    written = decode(wants, guard, steps=80)
    assert written.count("I'm sorry for the error.") <= 2
    assert guard.stopped["copy"] + guard.stopped["repetition"] >= 1


def test_the_status_line_cannot_be_copied_into_an_answer() -> None:
    guard = OutputGuard(PIECES, prompt_tokens=4, forbidden=[STATUS])
    lead = "The tool's output is: "

    def wants(text: str) -> list[str]:
        if len(text) < len(lead):
            return [lead[len(text)]]
        copied = len(text) - len(lead)
        return [STATUS[copied], '"'] if copied < len(STATUS) else ['"']

    written = decode(wants, guard, steps=120)
    assert "2026-01-01 09:00:08 UTC" not in written
    assert "Tasks:" not in written
    assert guard.stopped["copy"] >= 1


def test_an_answer_may_repeat_a_lead_an_earlier_answer_began_with() -> None:
    """A second result of the same tool: the lead written for the model matches the earlier
    answer's start, and the model's own words may still say what arrived."""
    lead = "The slow lookup result: "
    earlier = lead + "42 records."
    guard = OutputGuard(PIECES, prompt_tokens=4, forbidden=[earlier, STATUS], prefix=lead)
    own = "42 records."

    def wants(text: str) -> list[str]:
        return [own[len(text)]] if len(text) < len(own) else ['"']

    assert decode(wants, guard) == '42 records."'
    assert guard.stopped["copy"] == 0

    # Copying more than a few words after the lead is still stopped.
    guard = OutputGuard(PIECES, prompt_tokens=4, forbidden=[STATUS], prefix=lead)

    def copies_status(text: str) -> list[str]:
        return [STATUS[len(text)], '"'] if len(text) < len(STATUS) else ['"']

    written = decode(copies_status, guard, steps=120)
    assert "09:00:08 UTC" not in written and guard.stopped["copy"] >= 1


def test_short_overlaps_and_numbers_are_free() -> None:
    assert repeating_unit("It costs 1000000") is None  # no letter in the unit
    assert repeating_unit("bye bye") is None
    assert repeating_unit('"CALC_CALC_') == "CALC_"
    assert repeating_unit("hahahaha") == "ha"
    # Copying a few characters of the status (a task id, a tool name) is fine.
    guard = OutputGuard(PIECES, prompt_tokens=0, forbidden=[STATUS])
    assert guard.banned("the order_parts") == set()
    assert guard.banned("That is the t1 order_parts task") == set()


def test_an_answer_to_a_notification_starts_with_what_arrived() -> None:
    def note(source: str, name: str | None) -> Entry:
        return Entry("notification", "5", source=source, name=name)

    assert answer_lead(note("tool_result", "word_count")) == "The word count result: "
    assert answer_lead(note("tool_error", "get_weather")) == "The get weather task failed: "
    assert answer_lead(note("timer", "set_timer")) == "Time is up: "
    assert answer_lead(note("tool_rejected", "get_weather")) == ""


def test_when_the_grammar_allows_only_banned_tokens_the_least_bad_of_them_is_chosen() -> None:
    """llama.cpp applies the grammar after the guard: if the guard left every token the grammar
    allows at -inf, the sampler would pick one the grammar forbids, and llama.cpp aborts the process."""
    forced = "the status line, word for word, once more"
    guard = OutputGuard(PIECES, prompt_tokens=5, forbidden=[forced])
    ids = [INDEX["a"]] * 5
    text = ""
    while text != forced:
        scores = np.full(len(PIECES), -10.0)
        scores[INDEX[forced[len(text)]]] = 10.0  # the model wants the forced text too
        scores = guard(np.array(ids), scores)
        allowed = [INDEX[forced[len(text)]]]  # the grammar: the forced text, one character at a time
        masked = np.full(len(PIECES), -np.inf)
        masked[allowed] = scores[allowed]
        token = int(np.argmax(masked))
        assert masked[token] > -np.inf, f"after {text!r} nothing the grammar allows is left"
        ids.append(token)
        text += PIECES[token]
    assert guard.stopped["copy"] > 0  # it did ban the copy, all along
