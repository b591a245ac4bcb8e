"""How long a string the browser may send: a chat message up to 100,000 characters, every other
string field (agent paths) up to 1,000. Past that, one line saying what was wrong."""

from __future__ import annotations

import pytest

from ipyagent.widgets.wire import WireError, parse_client

ALL = frozenset({"follow", "cancel", "send"})


@pytest.mark.parametrize("kind", ["follow", "cancel"])
def test_an_agent_path_may_have_1000_characters_not_more(kind: str) -> None:
    path = "main/" + "a" * 995
    assert parse_client({"type": kind, "path": path}, ALL)["path"] == path  # type: ignore[typeddict-item]
    with pytest.raises(WireError, match=r"'path' has 1,001 characters, more than the 1,000 allowed") as err:
        parse_client({"type": kind, "path": path + "a"}, ALL)
    assert "\n" not in str(err.value)


def test_a_chat_message_may_have_100000_characters_not_more() -> None:
    text = "w" * 100_000
    assert parse_client({"type": "send", "text": text}, ALL)["text"] == text  # type: ignore[typeddict-item]
    with pytest.raises(WireError, match=r"'text' has 100,001 characters, more than the 100,000 allowed"):
        parse_client({"type": "send", "text": text + "w"}, ALL)
