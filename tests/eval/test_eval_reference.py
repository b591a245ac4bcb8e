"""Every shipped scenario is solvable, and its checks agree with its reference script: running the
references scores 100% on every metric."""

from __future__ import annotations

import anyio
import pytest

from ipyagent.eval import find_suites, reference_model, run_scenario, score
from ipyagent.eval.cli import run_scenarios
from ipyagent.eval.metrics import Totals
from ipyagent.eval.scenario import BEHAVIOURS

SCENARIOS = [s for suite in find_suites() for s in suite.scenarios]


def test_the_shipped_suites_cover_every_behaviour_with_at_least_40_scenarios() -> None:
    assert len(SCENARIOS) >= 40
    per_behaviour = {b: sum(s.behaviour == b for s in SCENARIOS) for b in BEHAVIOURS}
    assert min(per_behaviour.values()) >= 5, per_behaviour
    assert all(s.reference is not None for s in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.key for s in SCENARIOS])
async def test_the_reference_script_passes_every_check(scenario) -> None:  # type: ignore[no-untyped-def]
    with anyio.fail_after(10):
        result = score(await run_scenario(scenario, reference_model, model="reference"))
    assert result.failures() == []
    assert result.success
    assert result.valid_generations == result.generations > 0
    assert result.record.end == "settled"


async def test_a_perfect_run_of_the_whole_suite_scores_100_percent() -> None:
    with anyio.fail_after(30):
        results = await run_scenarios(SCENARIOS, reference_model, model="reference")
    totals = Totals.of(results)
    assert totals.successes == totals.scenarios == len(SCENARIOS)
    assert totals.valid_generations == totals.generations
    for passed, total in (totals.tools, totals.notifications, totals.answers):
        assert passed == total > 0
    assert totals.no_duplicates == totals.scenarios
