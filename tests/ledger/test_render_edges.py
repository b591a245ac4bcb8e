"""Rendering edges the golden renderings do not reach: a ledger that starts with the agent speaking
(a fork, a spawned sub-agent), an answer with no words, a call with no text before it, arguments
in other scripts or holding ``<``, instructions given mid-conversation, and where the status goes.
"""

from __future__ import annotations

import json

from ipyagent.ledger import Entry
from ipyagent.ledger.render import Context, parse_chatml_tool_calls, render_anthropic, render_chatml
from ipyagent.ledger.render.chatml import render_small_model
from ipyagent.ledger.render.context import ToolSpec

NOW = 1_700_000_000.0
TOOL = ToolSpec("route", "Find a route.", {"type": "object", "properties": {"to": {"type": "string"}}})


def call(index: int, arguments: dict[str, object]) -> Entry:
    return Entry(
        "tool_call", "", time=NOW, index=index, name="route", call_id=f"c{index}", arguments=arguments
    )


def test_a_ledger_that_starts_with_the_agent_speaking_opens_with_a_user_message_for_anthropic() -> None:
    entries = [Entry("assistant", "Picking up the task.", time=NOW, index=0)]
    _, messages, _ = render_anthropic(Context(entries=entries, now=NOW, cache_point=0))
    assert messages[0] == {
        "role": "user",
        "content": [{"type": "text", "text": "(the conversation continues)"}],
    }
    # The shared prefix ends at the agent's words, not at the stand-in message.
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"][0] == {
        "type": "text",
        "text": "Picking up the task.",
        "cache_control": {"type": "ephemeral"},
    }
    # The present moment comes last, as the user's.
    assert messages[-1]["role"] == "user"
    assert messages[-1]["content"][-1]["text"].startswith("Now: ")


def test_an_answer_with_no_words_is_sent_to_anthropic_as_no_text() -> None:
    entries = [Entry("user", "hi", time=NOW, index=0), Entry("assistant", "", time=NOW, index=1)]
    _, messages, _ = render_anthropic(Context(entries=entries, now=NOW))
    assert messages[1] == {"role": "assistant", "content": [{"type": "text", "text": "(no text)"}]}


def test_a_call_with_no_words_before_it_has_no_empty_text_block() -> None:
    """Anthropic refuses empty text blocks: a call-only turn is the call alone."""
    entries = [Entry("user", "go", time=NOW, index=0), call(1, {"to": "Oslo"})]
    _, messages, _ = render_anthropic(Context(entries=entries, now=NOW))
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "route", "input": {"to": "Oslo"}}
    ]


def test_a_call_is_written_for_the_local_model_as_its_own_block_in_its_own_script() -> None:
    entries = [Entry("user", "go", time=NOW, index=0), call(1, {"to": "Zürich <b>"})]
    prompt = render_chatml(Context(entries=entries, now=NOW))
    payload = '{"name": "route", "arguments": {"to": "Zürich \\u003cb>"}}'
    assert f"<|im_start|>assistant\n<tool_call>\n{payload}\n</tool_call><|im_end|>\n" in prompt
    # and what the model writes in that form reads back as the same call
    assert parse_chatml_tool_calls(f"<tool_call>\n{payload}\n</tool_call>") == (
        "",
        [("route", {"to": "Zürich <b>"})],
    )


def test_words_then_a_call_are_one_line_apart() -> None:
    entries = [
        Entry("user", "go", time=NOW, index=0),
        Entry("assistant", "On it.", time=NOW, index=1),
        call(2, {"to": "Oslo"}),
    ]
    prompt = render_chatml(Context(entries=entries, now=NOW))
    assert (
        '<|im_start|>assistant\nOn it.\n<tool_call>\n{"name": "route", "arguments": {"to": "Oslo"}}\n'
        in prompt
    )


def test_instructions_given_later_are_system_blocks_where_they_were_given() -> None:
    entries = [
        Entry("system", "Be brief.", time=NOW, index=0),
        Entry("user", "hi", time=NOW, index=1),
        Entry("system", "Answer in French.", time=NOW, index=2),
        Entry("user", "again", time=NOW, index=3),
    ]
    prompt = render_chatml(Context(entries=entries, now=NOW))
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n")
    assert "<|im_start|>user\nhi<|im_end|>\n<|im_start|>system\nAnswer in French.<|im_end|>\n" in prompt
    assert prompt.count("Be brief.") == 1


def test_the_status_goes_last_or_just_before_the_last_message() -> None:
    entries = [Entry("user", "first", time=NOW, index=0), Entry("user", "second", time=NOW, index=1)]
    context = Context(entries=entries, now=NOW)
    last = render_chatml(context, status="STATUS")
    assert last.endswith(
        "<|im_start|>user\nsecond<|im_end|>\n<|im_start|>notification\nSTATUS<|im_end|>\n<|im_start|>assistant\n"
    )
    before = render_chatml(context, status="STATUS", status_before_last=True)
    assert before.endswith(
        "<|im_start|>notification\nSTATUS<|im_end|>\n<|im_start|>user\nsecond<|im_end|>\n<|im_start|>assistant\n"
    )
    # With only the system block there is no last message to go before.
    alone = render_chatml(Context(entries=[], now=NOW), status="STATUS", status_before_last=True)
    assert alone.endswith("<|im_end|>\n<|im_start|>notification\nSTATUS<|im_end|>\n<|im_start|>assistant\n")
    assert "Now: " in render_chatml(context)


def test_tools_are_listed_with_their_schemas_or_in_one_line_each_for_the_small_model() -> None:
    context = Context(entries=[Entry("user", "go", time=NOW, index=0)], tools=[TOOL], now=NOW)
    schema = json.dumps(TOOL.parameters, sort_keys=True, separators=(",", ":"))
    full = render_chatml(context)
    assert f"- route: Find a route. Arguments (JSON schema): {schema}" in full
    small = render_small_model(context)
    assert "- route(to?: string): Find a route." in small
    assert schema not in small
    assert "- route(to?: string)" in render_chatml(context, compact_tools=True)


def test_a_malformed_call_does_not_hide_the_calls_after_it() -> None:
    completion = (
        "Checking.<|interrupt|> <tool_call>{oops}</tool_call>\n"
        '<tool_call>{"name": "a", "arguments": [1, 2]}</tool_call>\n'
        '<tool_call>{"name": "b"}</tool_call>\n'
        '<tool_call>["not", "a", "call"]</tool_call>\n'
        '<tool_call>{"name": "c", "arguments": {"x": 1}}</tool_call>'
    )
    assert parse_chatml_tool_calls(completion) == (
        "Checking.",
        [("", "{oops}"), ("a", "[1, 2]"), ("b", {}), ("", '["not", "a", "call"]'), ("c", {"x": 1})],
    )
