"""How an entry is written to the ledger file, and how a damaged line is refused when read back.

The written form is what other tools read (``sqlite3 ledger.sqlite``, a diff of two ledgers): one
compact JSON object, keys sorted, only the fields that are set, text as written. A line that is
not an entry `to_json` could have written is refused with one line saying which field is wrong.
"""

from __future__ import annotations

import json

import pytest

from ipyagent.ledger import Entry


def test_an_entry_is_written_as_compact_sorted_json_of_the_fields_it_has() -> None:
    entry = Entry(
        "tool_call",
        "Zürich → Oslo",
        time=12.5,
        index=7,
        name="route",
        call_id="c1",
        arguments={"b": 1, "a": "é"},
        generation=0,
    )
    assert entry.to_json() == (
        '{"arguments":{"a":"é","b":1},"call_id":"c1","generation":0,"kind":"tool_call",'
        '"name":"route","text":"Zürich → Oslo","time":12.5}'
    )
    assert Entry.from_json(entry.to_json(), 7) == entry


def test_a_lone_surrogate_is_kept_escaped() -> None:
    """A browser's JSON may hold half of a surrogate pair: not UTF-8, so it is written escaped
    (still compact and sorted) and reads back as it was."""
    entry = Entry("user", "half \ud83d here", time=1.0, name="é")
    written = entry.to_json()
    written.encode("utf-8")
    assert written == '{"kind":"user","name":"\\u00e9","text":"half \\ud83d here","time":1.0}'
    assert Entry.from_json(written, 0) == Entry("user", "half \ud83d here", time=1.0, index=0, name="é")


def test_the_index_is_the_position_not_part_of_the_line() -> None:
    assert "index" not in Entry("user", "x", index=5).to_json()
    assert Entry.from_json('{"kind":"user","text":"x","index":99}', 3).index == 3


def refused(line: str) -> str:
    with pytest.raises(ValueError, match="ledger entry") as err:
        Entry.from_json(line, 0)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_lines_that_are_not_entries_are_refused_saying_why() -> None:
    assert refused("[" * 100_000) == "not a ledger entry: JSON nested too deeply"
    assert refused('{"kind": "user"') == (
        "not a ledger entry: bad JSON (Expecting ',' delimiter at character 15)"
    )
    assert refused("[1]") == "not a ledger entry: a JSON list, not an object"
    assert refused('{"kind": "gossip"}') == "not a ledger entry: unknown kind 'gossip'"
    assert (
        refused(json.dumps({"kind": "g" * 39 + "XYZ"})) == f"not a ledger entry: unknown kind '{'g' * 39}X'"
    )
    assert refused('{"text": "x"}') == "not a ledger entry: unknown kind 'None'"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": 5}, "ledger entry field 'text' is a int, not a string"),
        ({"name": ["a"]}, "ledger entry field 'name' is a list, not a string"),
        ({"source": {"a": 1}}, "ledger entry field 'source' is a dict, not a string"),
        ({"text": None}, "ledger entry field 'text' is null, not a string"),
        ({"arguments": [1]}, "ledger entry field 'arguments' is a list, not an object"),
        ({"usage": "many"}, "ledger entry field 'usage' is a str, not an object"),
        ({"time": "noon"}, "ledger entry field 'time' is a str, not a number"),
        ({"time": True}, "ledger entry field 'time' is a bool, not a number"),
        ({"time": None}, "ledger entry field 'time' is a NoneType, not a number"),
        ({"finished": "later"}, "ledger entry field 'finished' is a str, not a number"),
        ({"time": 1e300}, "ledger entry field 'time' is 1e+300, not a time a calendar can show"),
        (
            {"finished": -1e12},
            "ledger entry field 'finished' is -1000000000000.0, not a time a calendar can show",
        ),
        ({"generation": 1.5}, "ledger entry field 'generation' is a float, not an integer"),
        ({"generation": False}, "ledger entry field 'generation' is a bool, not an integer"),
    ],
)
def test_a_field_of_the_wrong_kind_is_named(fields: dict[str, object], reason: str) -> None:
    assert refused(json.dumps({"kind": "user", "text": "x", **fields})) == reason


def test_the_first_and_last_days_a_calendar_shows_are_times() -> None:
    for time in (-62135510400.0, 253402214400.0, 0, 1_700_000_000):
        assert Entry.from_json(json.dumps({"kind": "user", "time": time, "finished": time}), 0).time == time
    for time in (-62135510400.5, 253402214400.5):
        with pytest.raises(ValueError, match="not a time a calendar can show"):
            Entry.from_json(json.dumps({"kind": "user", "time": time}), 0)
    # A notification's end may be unknown; its time may not.
    assert Entry.from_json('{"kind": "notification", "finished": null}', 0).finished is None
    assert Entry.from_json('{"kind": "user"}', 0) == Entry("user", index=0)
    assert Entry.from_json('{"kind": "user", "generation": 3}', 0).generation == 3
