"""Durability: an agent process killed with SIGKILL at random moments — while streaming, while
tools run, while sub-agents fork — loses no committed entry and never leaves a corrupt file, and
the conversation resumes from the file.

Kill points are chosen by counting committed entries (a seeded random count), not by waiting.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from pathlib import Path

import anyio
import pytest

from ipyagent import Agent, RealClock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.ledger import Ledger
from ipyagent.ledger.store import LedgerStore
from ipyagent.testing import kill_after_lines

AGENT = Path(__file__).with_name("crash_agent.py")
KILLS = 50


def run_and_kill(path: Path, seed: int, after: int) -> dict[str, set[int]]:
    """Start the agent, kill it once it has committed ``after`` entries; what it had committed."""
    committed: dict[str, set[int]] = defaultdict(set)
    for line in kill_after_lines([sys.executable, str(AGENT), str(path), str(seed)], after):
        name, index = line.split()
        committed[name].add(int(index))
    return committed


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_at_random_points_loses_nothing_and_resumes(tmp_path: Path) -> None:
    rng = random.Random(2026)
    lost = corrupt = entries_checked = 0
    kinds_at_kill: set[str] = set()
    last_length = 0
    for run in range(KILLS):
        path = tmp_path / f"run{run}.sqlite"
        committed = run_and_kill(path, seed=run, after=rng.randint(3, 150))
        store = LedgerStore(path)
        try:
            if not store.integrity_ok():
                corrupt += 1
                continue
            for name, indices in committed.items():
                ledger = Ledger.load(store, name)
                stored = [e.index for e in ledger]
                assert stored == list(range(len(stored))), f"run {run}: gaps in {name}"
                lost += len(indices - set(stored))
                entries_checked += len(indices)
            main = Ledger.load(store, "main")
            kinds_at_kill.add(main[len(main) - 1].kind)
            last_length = len(main)
        finally:
            store.close()
    print(
        f"\n{KILLS} kills, {entries_checked} committed entries checked: {lost} lost, {corrupt} corrupt files"
    )
    assert corrupt == 0
    assert lost == 0
    # The kills landed in different moments of the work, not always the same one.
    assert len(kinds_at_kill) >= 3, kinds_at_kill

    # The last file resumes: a new agent on it sees everything and carries on.
    async def resume() -> None:
        clock = RealClock()
        backend = ScriptedBackend.from_list([{"delay": 0.0, "text": "Back again."}], clock)
        async with Agent(backend, clock=clock, ledger=path, builtins=False) as agent:
            # Everything is back, then one notification per task that died with the process.
            died = agent.ledger[last_length:]
            assert all(e.kind == "notification" and e.source == "tool_cancelled" for e in died), died
            assert {e.task_id for e in died} <= {e.task_id for e in agent.ledger[:last_length]}
            await agent.send("are you there?")
            with anyio.fail_after(30):
                await agent.settled()
            assert agent.ledger[-1].text == "Back again."

    anyio.run(resume)
