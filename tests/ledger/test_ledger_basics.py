"""Small promises of the ledger that views and tools lean on: the newest entry of a kind, a secret
in a tool call's arguments never stored, a failing view not stopping the others, and the index
of kinds (counts for the ledger widget's filter) right across its blocks, against a plain count."""

from __future__ import annotations

import logging

import pytest

from ipyagent.ledger import Ledger
from ipyagent.ledger.kinds import BLOCK, CODE, KINDS, KindIndex, kind_table

SECRET = "sk-proj-" + "Q7w" * 16


def test_last_finds_the_newest_entry_of_a_kind_wherever_it_is() -> None:
    ledger = Ledger()
    assert ledger.name == "main"
    assert ledger.last("user") is None
    first = ledger.append("user", "first", time=0.0)
    for n in range(4):
        ledger.append("assistant", f"a{n}", time=1.0 + n, status="complete")
    assert ledger.last("user") is first  # the very first entry
    assert ledger.last("system") is None
    second = ledger.append("user", "second", time=9.0)
    ledger.append("assistant", "a", time=10.0, status="complete")
    assert ledger.last("user") is second
    assert ledger.last("assistant") is ledger[-1]


def test_a_secret_in_a_calls_arguments_is_never_stored() -> None:
    ledger = Ledger("main")
    entry = ledger.append(
        "tool_call", "", time=0.0, name="fetch", call_id="c1", arguments={"url": "x", "key": SECRET}
    )
    assert SECRET not in str(entry.arguments)
    assert entry.arguments is not None and entry.arguments["url"] == "x"
    assert SECRET not in ledger[-1].to_json()
    clean = ledger.append("tool_call", "", time=0.0, name="fetch", call_id="c2", arguments={"url": "y"})
    assert clean.arguments == {"url": "y"}


def test_a_view_that_fails_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger("main")
    heard: list[str] = []

    def broken(entry: object) -> None:
        raise RuntimeError("view bug")

    ledger.subscribe(broken)
    ledger.subscribe(lambda e: heard.append(e.text))
    with caplog.at_level(logging.ERROR, logger="ipyagent.ledger.ledger"):
        ledger.append("user", "hello", time=0.0)
    assert heard == ["hello"]
    assert len(ledger) == 1
    assert caplog.records[-1].getMessage().startswith("ledger subscriber ")
    assert "broken" in caplog.records[-1].getMessage()


def test_counts_by_kind_match_a_plain_count_across_blocks() -> None:
    codes = [(n * 7 + n // 5) % len(KINDS) for n in range(2 * BLOCK + 9)]
    index = KindIndex()
    for code in codes:
        index.append(code)
    whole = KindIndex(codes)  # built at once, the same answers
    for end in (0, 1, 5, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 9, 10**9, -3, None):
        upto = len(codes) if end is None else max(0, min(end, len(codes)))
        expected = [codes[:upto].count(c) for c in range(len(KINDS))]
        assert index.counts(end) == expected, end
        assert whole.counts(end) == expected, end
    assert KindIndex().counts() == [0] * len(KINDS)
    one = KindIndex()
    one.append(CODE["user"])
    assert one.counts() == [1 if c == CODE["user"] else 0 for c in range(len(KINDS))]


def test_the_filter_table_picks_exactly_the_kinds_asked_for() -> None:
    table = kind_table(["user", "tool_call", "no such kind"])
    assert len(table) == 256
    row = bytes([CODE["user"], CODE["assistant"], CODE["tool_call"], CODE["empty"], 255])
    assert row.translate(table) == bytes([1, 0, 1, 0, 0])
    assert kind_table([]) == bytes(256)
