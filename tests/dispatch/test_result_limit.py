"""What a tool result looks like to the model at the size limit: whole up to it, cut past it."""

from __future__ import annotations

from ipyagent.dispatch.tasks import MAX_RESULT_CHARS, result_text


def test_a_result_of_exactly_the_limit_is_shown_whole() -> None:
    assert MAX_RESULT_CHARS == 16_000  # the figure the README promises
    text = "x" * 16_000
    assert result_text(text) == text


def test_one_character_over_the_limit_is_cut_with_a_marker() -> None:
    shown = result_text("y" * 16_001)
    assert shown.startswith("y" * 16_000 + "\n[... output cut:")
    assert "only the first 16,000 characters of 16,001 characters are shown" in shown
    assert "y" * 16_001 not in shown


def test_bytes_over_the_limit_say_how_many_bytes_there_were() -> None:
    shown = result_text(b"\x00" * 10_000)  # 4 characters each in repr: 40,000
    assert shown.endswith("of 10,000 bytes are shown]")
    assert shown.startswith("b'\\x00")
