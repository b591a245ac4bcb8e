"""A smoke run of the harness on the embedded local model (real generations, virtual tools)."""

from __future__ import annotations

import anyio
import pytest

from ipyagent.eval import find_suites, model_factory
from ipyagent.eval.cli import run_scenarios
from support.local_model import needs_local_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    needs_local_model,
]

BY_KEY = {s.key: s for suite in find_suites() for s in suite.scenarios}
SMOKE = ["async_basics/conversion-result-used", "control/oven-reminder"]


async def test_a_few_scenarios_run_on_the_local_model() -> None:
    factory = model_factory("local")
    with anyio.fail_after(280):
        results = await run_scenarios([BY_KEY[k] for k in SMOKE], factory, model="local", real_limit=120)
    for r in results:
        kinds = [e.kind for e in r.record.entries]
        assert r.record.end in ("settled", "time limit", "runaway"), r.record.end
        assert "user" in kinds and "assistant" in kinds
        assert r.generations >= 1
        # The grammar only lets the local model write valid ledger messages.
        assert r.valid_generations == r.generations, r.invalid
        assert r.input_tokens > 0 and r.output_tokens > 0
        # Real latency is measured (the first token takes real time) ...
        assert r.first_answer is not None and r.first_answer > 0
        # ... while the model's thinking took no virtual time: the first answer began at 0.
        assert r.record.generation_starts[0] == 0.0
        assert len(r.checks) == len(r.scenario.checks)
