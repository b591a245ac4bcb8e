"""``%ledger --text`` (and the plain-text view in terminals and nbconvert): one line per entry,
``+seconds  kind  what``, each kind said the way a reader needs it. Expected lines written by
hand."""

from __future__ import annotations

from pathlib import Path

from ipyagent.ledger import Ledger
from ipyagent.ledger.text import format_entries, ledger_report


def conversation() -> Ledger:
    ledger = Ledger("main")
    ledger.append("system", "Be brief.\nAnswer in English.", time=10.0)
    ledger.append("user", "Weather in Paris?", time=10.5, source="chat")
    ledger.append("assistant", "", time=11.0, status="complete")  # a turn of calls only
    ledger.append(
        "tool_call", "", time=11.0, name="get_weather", arguments={"city": "Paris", "days": 2}, call_id="c1"
    )
    ledger.append(
        "tool_result", "", time=11.0, name="get_weather", status="started", task_id="t1", call_id="c1"
    )
    ledger.append("tool_call", '{"city": Par', time=11.0, name="get_weather", call_id="c2")  # not JSON
    ledger.append(
        "tool_result", "city: required", time=11.0, name="get_weather", status="rejected", call_id="c2"
    )
    ledger.append("tool_call", "", time=11.0, name="now", arguments={}, call_id="c3")
    ledger.append(
        "notification", "Paris: sunny", time=12.25, source="tool_result", task_id="t1", name="get_weather"
    )
    ledger.append("notification", "tick", time=13.0, source="timer")
    ledger.append("assistant", "It is sunny and", time=13.5, status="interrupted")
    ledger.append("assistant", "Done.", time=14.0, status="complete")
    ledger.append("subagent", "find the tides", time=15.0, status="started", name="helper", task_id="t2")
    ledger.append("user", "word " * 40, time=16.0, source="chat")
    return ledger


EXPECTED = [
    "   +0.50s  user         Weather in Paris?",
    "   +1.00s  tool_call    get_weather(city='Paris', days=2)",
    "   +1.00s  tool_result  get_weather started as t1",
    '   +1.00s  tool_call    get_weather({"city": Par)',
    "   +1.00s  tool_result  get_weather rejected: city: required",
    "   +1.00s  tool_call    now()",
    "   +2.25s  notification [tool_result t1 get_weather] Paris: sunny",
    "   +3.00s  notification [timer] tick",
    "   +3.50s  assistant    It is sunny and [interrupted]",
    "   +4.00s  assistant    Done.",
    "   +5.00s  subagent     started 'helper' (t2): find the tides",
    "   +6.00s  user         " + "word " * 19 + "…",
]


def test_each_kind_reads_as_one_line() -> None:
    assert format_entries(conversation()).splitlines() == EXPECTED


def test_the_system_message_in_full_and_times_from_a_given_start() -> None:
    lines = format_entries(conversation(), system=True, start=9.0).splitlines()
    assert lines[:3] == [
        "   +1.00s  system       Be brief.",
        "                         Answer in English.",
        "   +1.50s  user         Weather in Paris?",
    ]


def test_the_report_names_the_agent_its_size_and_file(tmp_path: Path) -> None:
    ledger = conversation()
    report = ledger_report(ledger, "main/helper", tmp_path / "s.sqlite").splitlines()
    assert report[0] == f"ledger of main/helper: 14 entries ({tmp_path / 's.sqlite'})"
    assert report[1:] == EXPECTED
    assert ledger_report(ledger, "main", None).splitlines()[0] == "ledger of main: 14 entries"
