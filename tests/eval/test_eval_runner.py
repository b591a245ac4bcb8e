"""The runner's time policy, reports, JSONL export and the command line."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from ipyagent.dispatch.backends.base import Chunk, TextChunk
from ipyagent.eval import HeldBackend, find_suites, reference_model, run_scenario, score
from ipyagent.eval.cli import main
from ipyagent.eval.report import export_jsonl, html_report, training_example
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock

BY_KEY = {s.key: s for suite in find_suites() for s in suite.scenarios}


class ThreadedModel:
    """Generates in a worker thread, as a real model does: it "thinks" until a simulated tool has
    finished or ``seconds`` of real time have passed, whichever comes first."""

    name = "threaded"

    def __init__(self, tool_done: threading.Event, seconds: float) -> None:
        self.tool_done = tool_done
        self.seconds = seconds

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        def think() -> str:
            finished_first = self.tool_done.wait(self.seconds)
            return "the tool finished while I was thinking" if finished_first else "done thinking"

        yield TextChunk(await anyio.to_thread.run_sync(think))


async def generate_while_a_tool_waits(held: bool, seconds: float) -> tuple[str, float]:
    """What the model saw, and the virtual time when it was done, with a 5 s tool pending."""
    async with VirtualClock() as clock:
        tool_done = threading.Event()
        model = ThreadedModel(tool_done, seconds)
        backend = HeldBackend(model, clock) if held else model

        async def tool() -> None:
            await clock.sleep(5)
            tool_done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(tool)
            chunks = [c async for c in backend.stream(Context(entries=[]), agent="main")]
            done_at = clock.now()
        assert isinstance(chunks[0], TextChunk)
        return chunks[0].text, done_at


async def test_virtual_time_stands_still_while_a_held_model_thinks() -> None:
    with anyio.fail_after(10):
        said, done_at = await generate_while_a_tool_waits(held=True, seconds=0.2)
    assert (said, done_at) == ("done thinking", 0.0)


async def test_without_the_hold_the_clock_jumps_past_a_tool_while_the_model_thinks() -> None:
    # This is why real models are held: the pending 5 s tool "finishes" mid-generation.
    with anyio.fail_after(10):
        said, done_at = await generate_while_a_tool_waits(held=False, seconds=10)
    assert (said, done_at) == ("the tool finished while I was thinking", 5.0)


async def results(*keys: str):  # type: ignore[no-untyped-def]
    return [score(await run_scenario(BY_KEY[k], reference_model, model="reference")) for k in keys]


async def test_html_report_is_self_contained_and_shows_checks_and_ledgers() -> None:
    rs = await results("async_basics/weather-during-itinerary", "control/side-question-mid-answer")
    page = html_report(rs, "reference")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http" not in page and "<link" not in page
    assert "async_basics/weather-during-itinerary" in page and "control/side-question-mid-answer" in page
    assert "calls plan_itinerary(city=&#x27;Paris&#x27;, days=3) exactly 1x" in page
    assert "[interrupted]" in page  # the ledger of the interrupted answer


async def test_jsonl_export_maps_notifications_per_format(tmp_path: Path) -> None:
    (r,) = await results("async_basics/flight-result-announced")
    openai = training_example(r, "openai")
    roles = [m["role"] for m in openai["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user", "assistant"]
    assert openai["messages"][4]["content"].startswith('<notification kind="tool_result" task="t1"')
    assert openai["messages"][-1]["content"].startswith("Found it")
    assert {t["function"]["name"] for t in openai["tools"]} >= {"search_flights", "set_timer"}
    chatml = training_example(r, "chatml")["text"]
    assert "<|im_start|>notification\n" in chatml and chatml.endswith("<|im_end|>\n")
    assert "Tasks:" not in chatml  # the live status line is not part of an example
    anthropic = training_example(r, "anthropic")
    assert anthropic["messages"][-1]["role"] == "assistant"
    assert "<notification" in json.dumps(anthropic["messages"])

    failed = dataclass_failed(r)
    out = tmp_path / "runs.jsonl"
    assert export_jsonl([r, failed], out, "openai") == 1
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == openai


def dataclass_failed(r):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(r, duplicates=("t2 repeats t1",))


def test_the_command_line_runs_reports_and_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, jsonl, scores = tmp_path / "out.html", tmp_path / "out.jsonl", tmp_path / "out.json"
    code = main(
        [
            "--model", "reference", "--suite", "control", "--behaviour", "timer",
            "--report", str(report), "--export-jsonl", str(jsonl), "--json", str(scores),
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    assert "model reference: 5/5 scenarios succeeded (100%)" in out
    assert "timer" in out and "overall" in out
    assert "5/5" in err and "control/eggs-and-toast" in err  # the progress bar
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert len(jsonl.read_text().splitlines()) == 5
    assert json.loads(scores.read_text())["successes"] == 5


def test_the_command_line_says_what_is_wrong_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--suite", "nonsense"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert main(["--model", "reference", "--scenario", "no-such-*"]) == 2
    assert "no scenario matches" in capsys.readouterr().err
    assert main(["--model", "scripted:x.json", "--scenario", "oven-reminder"]) == 2
    assert "use '--model reference'" in capsys.readouterr().err
    assert main(["--list", "--behaviour", "parallel"]) == 0
    assert "delegation/weather-three-cities" in capsys.readouterr().out


def test_python_dash_m_ipyagent_dispatches_eval(capsys: pytest.CaptureFixture[str]) -> None:
    from ipyagent.__main__ import main as entry

    assert entry(["eval", "--list", "--scenario", "oven-reminder"]) == 0
    assert "control/oven-reminder" in capsys.readouterr().out
    assert entry(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "usage: python -m ipyagent" in err
    assert "invalid choice: 'frobnicate'" in err
