"""Every notebook under notebooks/ runs headless from top to bottom; key outputs are checked.

The notebooks that use the plain API run on the python3 kernel, with this checkout's source first
on the kernel's path; their time is virtual, so each runs in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(autouse=True)
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def run(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return nb


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "") or out.get("data", {}).get("text/plain", "") for out in cell.get("outputs", [])
    )


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(text_of(cell) for cell in code_cells(nb))


def has_picture(cell: nbformat.NotebookNode) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


@pytest.mark.slow
def test_the_core_notebook_shows_async_beating_turn_based() -> None:
    nb = run("00-the-core.ipynb")
    text = stdout_of(nb)
    assert "asynchronous:   2.8 s" in text  # the weather waits 0.25 s (fold window) for the itinerary
    assert "turn-based:    63.0 s" in text
    assert "notification [tool_result t2 get_weather] Paris: sunny, 21 C" in text


@pytest.mark.slow
def test_async_vs_turn_based_opens_with_the_timeline_and_measures_the_quick_question() -> None:
    nb = run("02-async-vs-turn-based.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0]), "the first code cell draws the two timelines"
    measured = dict(re.findall(r"(turn-based|async): +([\d.]+) s", text_of(cells[1])))
    assert set(measured) == {"turn-based", "async"}, text_of(cells[1])
    fast, slow = float(measured["async"]), float(measured["turn-based"])
    # The quick question is asked 2 s in, while the one-minute itinerary runs.
    assert fast < 5 and slow > 60, measured
    ledgers = text_of(cells[2]).split("--- async")
    assert len(ledgers) == 2
    for ledger in ledgers:
        assert "It is sunny in Paris" in ledger and "[tool_result t1 plan_itinerary]" in ledger
    turn_based, asynchronous = ledgers
    # Async: the weather answer comes before the itinerary's notification; turn-based: after it.
    assert asynchronous.index("It is sunny") < asynchronous.index("[tool_result t1 plan_itinerary]")
    assert turn_based.index("It is sunny") > turn_based.index("[tool_result t1 plan_itinerary]")
    live = text_of(cells[3])
    assert "timeline of main" in live and "t1 plan_itinerary" in live and "t2 get_weather" in live


@pytest.mark.slow
def test_interruptions_keep_what_was_received_and_the_marker() -> None:
    nb = run("03-interruptions.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0])
    typed, stopped = text_of(cells[1]).split("--- the stop button")
    for ledger, reason in (
        (typed, "the user sent a new message"),
        (stopped, "stopped with the Jupyter interrupt button"),
    ):
        assert "[interrupted]" in ledger, ledger
        assert f"interruption {reason}" in ledger, ledger
    # The new message is answered after the cut; the tool started before the stop still reports.
    assert typed.index("interruption") < typed.index("In one sentence")
    assert stopped.index("interruption") < stopped.index("[tool_result t1 plan_itinerary]")
    received = re.search(r"answer: (\d+) words; the user received (\d+)", text_of(cells[2]))
    assert received is not None and 0 < int(received[2]) < int(received[1])
    prompt = text_of(cells[3])
    assert "<|interrupt|>" in prompt and prompt.index("<|interrupt|>") < prompt.index("Too long!")


@pytest.mark.slow
def test_the_fork_shares_the_parents_entries_and_prompt_prefix_the_spawn_does_not() -> None:
    nb = run("04-fork-vs-spawn.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0])
    table = text_of(cells[1])
    rows = {
        m[0]: [int(x.replace(",", "")) for x in m[1:]]
        for m in re.findall(r"^(forked|spawned) +(\d+) +(\d+) +([\d,]+) +([\d,]+)$", table, re.M)
    }
    assert set(rows) == {"forked", "spawned"}, table
    f_entries, f_shared, f_chars, f_prefix = rows["forked"]
    s_entries, s_shared, s_chars, s_prefix = rows["spawned"]
    assert f_shared == 5 and s_shared == 0  # system, two user turns, two answers
    assert f_entries > s_entries and f_chars > s_chars
    assert f_prefix > 2 * s_prefix and f_prefix / f_chars > 0.5
    assert "(not copies): True" in table
    results = text_of(cells[3])
    assert "[subagent_report t1 forked] The Grande Galerie" in results
    assert "[subagent_report t2 spawned] The Louvre" in results


@pytest.mark.slow
def test_clock_and_timers_notebook_shows_timer_deadline_and_task_ages() -> None:
    nb = run("05-clock-and-timers.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0])
    ledger = text_of(cells[1])
    assert "+20.50s  notification [tool_timeout t2 find_trains] timed out after 20 s" in ledger
    assert "+300.50s  notification [timer t1 set_timer] timer 'bread' went off" in ledger
    assert "t1 set_timer (timer): running for 2 min" in ledger
    status = text_of(cells[2])
    assert "Now: 2026-01-01 09:02:00 UTC. Tasks: t1 set_timer (running 2 min)." in status
    assert "(301.0 virtual seconds)" in text_of(cells[3])


@pytest.mark.slow
def test_your_own_tools_run_in_parallel_fail_clearly_and_bad_arguments_are_rejected() -> None:
    nb = run("07-your-own-tools.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0])
    schemas = text_of(cells[1])
    assert '"amount": {"type": "number"}' in schemas and "Convert an amount of euros" in schemas
    ledger = text_of(cells[2])
    assert "convert rejected" in ledger and "'a hundred' is not of type 'number'" in ledger
    assert "[tool_result t1 exchange_rate] 1.08" in ledger
    assert "[tool_result t3 convert] 108.0" in ledger
    assert "[tool_error t2 exchange_rate] KeyError: 'JPY'" in ledger
    # Both look-ups started together, and the dollar's result was used before the yen's failed.
    assert ledger.index("started as t2") < ledger.index("[tool_result t1")
    assert ledger.index("100 euros are 108") < ledger.index("[tool_error t2")


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
def test_voice_notebook_turns_speech_into_a_turn_speaks_by_sentence_and_keeps_what_was_heard() -> None:
    nb = run("06-voice.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0]), "the first code cell draws the microphone, agent and speaker lanes"
    ledger = [line.strip() for line in text_of(cells[1]).splitlines()]
    kinds = [line.split(":")[0].strip() for line in ledger]
    assert kinds == ["user (voice)", "assistant [interrupted]", "interruption", "user (voice)", "assistant"]
    question = ledger[0].lower()
    assert "weather" in question and "paris" in question  # real Whisper heard the espeak question
    heard = ledger[1].split(": ", 1)[1]
    # Only what played: the first sentence and part of the second, never the third.
    assert heard.startswith("It is sunny in Paris today. ")
    rest = heard.removeprefix("It is sunny in Paris today. ").strip()
    assert (
        rest
        and "Tomorrow it will rain a little.".startswith(rest)
        and rest != "Tomorrow it will rain a little."
    )
    assert "umbrella" not in heard
    assert ledger[2] == "interruption: the user started speaking"
    assert ledger[4] == "assistant: Around twelve degrees: take a coat."
    sentences = text_of(cells[2])
    assert re.search(r"'It is sunny in Paris today\.' +[\d.]+ s long, played in full", sentences), sentences
    assert re.search(r"'Tomorrow it will rain a little\.' +[\d.]+ s long, cut after 0\.\d+ s", sentences)
    assert "'Bring an umbrella.'" in sentences and "never played" in sentences
    assert "barge-ins: 1; the speaker was stopped 1 time(s)" in sentences
    headless = text_of(cells[3])
    assert "sentences played: 0" in headless
    assert (
        "the ledger has the whole answer: It is sunny in Paris today." in headless and "umbrella" in headless
    )


@pytest.mark.slow
@pytest.mark.timeout(240)  # three MCP server starts: a few seconds each, more on a busy machine
def test_mcp_tools_notebook_answers_while_a_slow_mcp_tool_runs_and_cancels_it() -> None:
    nb = run("08-mcp-tools.ipynb")
    cells = code_cells(nb)
    assert has_picture(cells[0]), "the first code cell draws the timeline"
    assert text_of(cells[1]).startswith("forecast: A day-by-day forecast")
    ledger = [line.split(maxsplit=1)[1] for line in text_of(cells[2]).splitlines()]
    assert ledger[2] == "tool_call    forecast(city='Paris', days=5)"
    assert ledger[3] == "tool_result  forecast started as t1"
    quick = ledger.index("assistant    Layers and an umbrella; the forecast follows as soon as it is in.")
    result = "notification [tool_result t1 forecast]"
    forecast = next(i for i, line in enumerate(ledger) if line.startswith(result))
    assert quick < forecast, "the quick question waited for the slow MCP tool"
    progress = text_of(cells[3]).splitlines()
    assert progress == [f"t1 forecast: {day}/5: day {day} of 5 computed" for day in range(1, 6)]
    cancelled = text_of(cells[4])
    assert "[tool_cancelled t1 forecast] cancelled (the user no longer needs it)" in cancelled
    assert re.search(r"\[tool_result t2 cancelled_calls\] forecast\(Oslo, 30\) after \d+ days", cancelled)
    failed = text_of(cells[5])
    fault = "[tool_error mcp:weather] MCP server 'weather' could not start: command 'no-such-weather-server'"
    assert fault in failed
    assert "(The weather service is not available right now.)" in failed
