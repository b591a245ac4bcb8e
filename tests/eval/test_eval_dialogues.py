"""Fine-tuning data from the harness: the held-out families never reach it, every generated
dialogue is a passing run, and each example is exactly what the local model is prompted with."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from ipyagent.eval import find_suites
from ipyagent.eval.dialogues import (
    END,
    HELD_OUT,
    HELD_OUT_TOOLS,
    export,
    generated_suite,
    held_out_scenarios,
    main,
    record,
    training_scenarios,
)
from ipyagent.eval.scenario import BEHAVIOURS

ALL = [s for suite in find_suites() for s in suite.scenarios]


def test_at_least_a_third_of_each_behaviours_scenarios_is_held_out() -> None:
    assert {s.key for s in held_out_scenarios()} == HELD_OUT
    for behaviour in BEHAVIOURS:
        mine = [s for s in ALL if s.behaviour == behaviour]
        held = [s for s in mine if s.key in HELD_OUT]
        assert len(held) * 3 >= len(mine), behaviour
    assert not {s.key for s in training_scenarios()} & HELD_OUT


def test_the_generator_varies_and_never_uses_a_held_out_tool_or_request() -> None:
    scenarios = generated_suite(160, seed=3)
    assert {s.behaviour for s in scenarios} == set(BEHAVIOURS)
    held_requests = {step.user for s in held_out_scenarios() for step in s.steps}
    for s in scenarios:
        assert not {t.name for t in s.tools} & HELD_OUT_TOOLS
        assert not {step.user for step in s.steps} & held_requests
    # Phrasing, arguments and latencies vary; the same seed gives the same dialogues.
    requests = {s.steps[0].user for s in scenarios}
    latencies = {t.latency for s in scenarios for t in s.tools}
    assert len(requests) > 60 and len(latencies) >= 5
    assert [s.steps for s in generated_suite(16, seed=3)] == [s.steps for s in scenarios[:16]]
    assert [s.steps for s in generated_suite(16, seed=4)] != [s.steps for s in scenarios[:16]]


async def test_each_example_is_the_prompt_of_one_generation_and_its_message(tmp_path: Path) -> None:
    scenario = next(s for s in generated_suite(8, seed=5) if s.behaviour == "quick_question")
    with anyio.fail_after(10):
        pairs = await record(scenario)
    assert pairs is not None and len(pairs) == len(scenario.reference or ())
    first = pairs[0]
    # The prompt is the local backend's: compact tool lines, the status just before the request.
    assert first["prompt"].endswith(
        f"<|im_start|>user\n{scenario.steps[0].user}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert "<|im_start|>notification\nNow: " in first["prompt"]
    assert f"- {scenario.tools[0].name}(" in first["prompt"]
    call = (scenario.reference or ())[0].tool_calls[0]
    payload = json.dumps({"name": call.name, "arguments": call.arguments})
    assert first["completion"].endswith(f"<tool_call>\n{payload}\n</tool_call>{END}")
    # A later prompt holds the earlier completion as the ledger rendered it.
    assert first["completion"].removesuffix(END) in pairs[1]["prompt"]


async def test_export_writes_only_passing_runs_and_refuses_held_out_ones(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    with anyio.fail_after(30):
        kept, dropped, pairs = await export(generated_suite(24, seed=6), out)
    assert (kept, dropped) == (24, 0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == pairs and all(r["completion"].endswith(END) for r in rows)
    with pytest.raises(ValueError, match="held out"):
        await export(held_out_scenarios()[:1], tmp_path / "bad.jsonl")


def test_the_command_line_writes_the_reference_scripts_and_generated_dialogues(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "data.jsonl"
    assert main(["--generated", "8", "--seed", "1", "--out", str(out)]) == 0
    names = {json.loads(line)["scenario"] for line in out.read_text().splitlines()}
    assert names & {s.key for s in training_scenarios()} and not names & HELD_OUT
    assert any(n.startswith("generated/") for n in names)
    assert "dialogues (0 dropped)" in capsys.readouterr().out
