"""What the local model can and cannot write under its grammars, checked by llama.cpp's own grammar
engine (the one that constrains generation) character by character, with only the model's
vocabulary loaded (about a second; no weights, no generation).

The promise (README, local backend): the model's output is always a valid ledger message. Plain
text never contains ``<``; a tool call names a registered tool, with arguments its schema accepts
(required ones present, no unknown ones, strings of at most ``MAX_STRING`` characters when the
schema sets no bound), and is closed."""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable
from typing import Any

import pytest

from ipyagent.dispatch.backends.local.grammar import (
    MAX_STRING,
    TEXT_RULE,
    arguments_grammar,
    choice_grammar,
    ledger_message_grammar,
)
from ipyagent.ledger.render.context import ToolSpec
from support.local_model import load_local_model

WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
NOTE = ToolSpec(
    "save_note",
    "Save a note.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)


@pytest.fixture(scope="module")
def accepts() -> Callable[[str, str], bool]:
    """``accepts(grammar, output)``: whether llama.cpp lets a model write exactly ``output``."""
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = load_local_model(vocab_only=True)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    end = llm.token_eos()

    def allowed(sampler: Any, token: int) -> bool:
        data = (llama_cpp.llama_token_data * 1)()
        data[0].id, data[0].logit, data[0].p = token, 0.0, 0.0
        candidates = llama_cpp.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
        return bool(data[0].logit != float("-inf"))

    def check(grammar: str, output: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        assert sampler, f"llama.cpp refused the grammar:\n{grammar[:500]}"
        try:
            # One character at a time (as single-byte tokens where they exist), then the end:
            # the model may stop only where a whole message has been written.
            for char in output:
                for token in llm.tokenize(char.encode(), add_bos=False, special=False):
                    if not allowed(sampler, token):
                        return False
                    llama_cpp.llama_sampler_accept(sampler, token)
            return allowed(sampler, end)
        finally:
            llama_cpp.llama_sampler_free(sampler)

    # A grammar llama.cpp cannot use constrains nothing: make sure the engine does refuse.
    assert not check(TEXT_RULE.replace("text", "root"), "a <b>")
    return check


def call(name: str, arguments: Any) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def test_without_tools_the_model_writes_plain_text_only(accepts: Callable[[str, str], bool]) -> None:
    grammar = ledger_message_grammar([])
    assert accepts(grammar, "Hello! It is 21 C in Paris.\nAnything else?")
    assert not accepts(grammar, "a < b")
    assert not accepts(grammar, "<|im_end|>")
    assert not accepts(grammar, call("get_weather", {"city": "Paris"}))
    assert not accepts(grammar, "")  # an empty answer is no message


def test_with_one_tool_text_calls_or_text_then_calls(accepts: Callable[[str, str], bool]) -> None:
    grammar = ledger_message_grammar([WEATHER])
    paris = call("get_weather", {"city": "Paris"})
    assert accepts(grammar, "Sure.")
    assert accepts(grammar, paris)
    assert accepts(grammar, "Let me look. " + paris)
    assert accepts(grammar, paris + "\n" + call("get_weather", {"city": "Oslo", "days": 3}))
    assert not accepts(grammar, "")
    assert not accepts(grammar, "Look: <b>" + paris)  # no stray tag before a call
    assert not accepts(grammar, paris + " and that is all")  # nothing after a call
    assert not accepts(grammar, paris.removesuffix("</tool_call>"))  # a call is closed
    assert not accepts(grammar, paris.removesuffix("\n</tool_call>"))
    assert not accepts(grammar, "<tool_call>\n</tool_call>")


def test_a_call_names_a_registered_tool_with_arguments_its_schema_accepts(
    accepts: Callable[[str, str], bool],
) -> None:
    grammar = ledger_message_grammar([WEATHER])
    assert not accepts(grammar, call("get_time", {"city": "Paris"}))  # no such tool
    assert not accepts(grammar, call("get_weather", {}))  # city is required
    assert not accepts(grammar, call("get_weather", {"city": "Paris", "country": "FR"}))  # unknown
    assert not accepts(grammar, call("get_weather", {"city": 3}))
    assert not accepts(grammar, call("get_weather", {"city": "Paris", "days": "three"}))
    # The call itself: a name and arguments, nothing else.
    assert not accepts(grammar, '<tool_call>\n{"name": "get_weather"}\n</tool_call>')
    assert not accepts(grammar, '<tool_call>\n{"arguments": {"city": "Paris"}}\n</tool_call>')
    for why in ('"asked"', '{"by": "user"}'):
        extra = (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}, "why": '
            + why
            + "}\n</tool_call>"
        )
        assert not accepts(grammar, extra)


def test_strings_without_a_bound_stop_at_max_string_characters(accepts: Callable[[str, str], bool]) -> None:
    grammar = ledger_message_grammar([WEATHER])
    assert accepts(grammar, call("get_weather", {"city": "x" * MAX_STRING}))
    assert not accepts(grammar, call("get_weather", {"city": "x" * (MAX_STRING + 1)}))


def test_with_two_tools_each_call_matches_its_own_tool(accepts: Callable[[str, str], bool]) -> None:
    grammar = ledger_message_grammar([WEATHER, NOTE])
    assert accepts(grammar, call("get_weather", {"city": "Paris"}))
    assert accepts(grammar, call("save_note", {"text": "buy milk"}))
    assert accepts(grammar, call("save_note", {"text": "a"}) + "\n" + call("get_weather", {"city": "b"}))
    assert not accepts(grammar, call("get_weather", {"text": "buy milk"}))  # another tool's arguments
    assert not accepts(grammar, call("save_note", {"city": "Paris"}))


def test_once_a_call_is_opened_only_that_tools_arguments_and_the_close_follow(
    accepts: Callable[[str, str], bool],
) -> None:
    # The backend has already written '<tool_call>\n{"name": "get_weather", "arguments": '.
    grammar = arguments_grammar(WEATHER)
    assert accepts(grammar, '{"city": "Oslo"}}\n</tool_call>')
    assert accepts(grammar, '{"city": "Oslo", "days": 2}}\n</tool_call>')
    assert not accepts(grammar, '{"city": "Oslo"}')  # the call is closed
    assert not accepts(grammar, '{"days": 2}}\n</tool_call>')
    assert not accepts(grammar, '{"city": "Oslo", "country": "NO"}}\n</tool_call>')
    assert not accepts(grammar, '{"city": "Oslo", "country": {"code": "NO"}}}\n</tool_call>')
    assert not accepts(grammar, json.dumps({"city": "x" * (MAX_STRING + 1)}) + "}\n</tool_call>")
    assert not accepts(grammar, '{"city": "Oslo"}}\n</tool_call> and more')


def test_a_choice_is_one_of_the_names_in_full(accepts: Callable[[str, str], bool]) -> None:
    grammar = choice_grammar(["get_weather", "save_note"])
    assert accepts(grammar, "save_note")
    assert not accepts(grammar, "save")
    assert not accepts(grammar, "get_weather save_note")
