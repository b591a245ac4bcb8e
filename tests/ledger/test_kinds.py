"""The ledger's index of kinds: one code per entry and counts per block that agree with the
entries, for a ledger of its own, a fork, a fork of a fork and a ledger read back from its file,
however entries were added."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ipyagent.ledger import Ledger
from ipyagent.ledger import kinds as kinds_module
from ipyagent.ledger.kinds import KINDS, code_of

BLOCK = 64  # blocks of 64 entries (not 4,096): the same code, a short test


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds_module, "BLOCK", BLOCK)


KINDS_USED = ["user", "assistant", "tool_call", "tool_result", "notification", "interruption"]


def fill(ledger: Ledger, n: int, rng: random.Random) -> None:
    for _ in range(n):
        kind = rng.choice(KINDS_USED)
        empty = kind == "assistant" and rng.random() < 0.3
        ledger.append(kind, "" if empty else "some text", time=0.0)  # type: ignore[arg-type]


def check(ledger: Ledger, rng: random.Random) -> None:
    kinds = ledger.kinds()
    codes = [code_of(e) for e in ledger]
    assert bytes(kinds.codes) == bytes(codes)
    for end in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, len(codes)] + [
        rng.randrange(len(codes) + 1) for _ in range(20)
    ]:
        end = min(end, len(codes))
        assert kinds.counts(end) == [codes[:end].count(c) for c in range(len(KINDS))], end
    for b in range(len(kinds.before)):
        assert kinds.count_before(b, [2, 4]) == sum(1 for c in codes[: b * BLOCK] if c in (2, 4))


def test_the_index_of_kinds_agrees_with_the_entries(tmp_path: Path) -> None:
    rng = random.Random(7)
    root = Ledger.open(tmp_path / "ledger.sqlite")
    fill(root, 2 * BLOCK + 5, rng)
    check(root, rng)
    fork = root.fork("helper")  # its index is made when first asked for ...
    fill(root, 100, rng)  # (the parent's later entries are not the fork's)
    fill(fork, BLOCK - 3, rng)
    check(fork, rng)
    fill(fork, BLOCK + 9, rng)  # ... and kept from then on
    check(fork, rng)
    grandchild = fork.fork("deeper")
    fill(grandchild, 50, rng)
    check(grandchild, rng)
    check(root, rng)
    reopened = Ledger.open(tmp_path / "ledger.sqlite", "deeper")
    assert bytes(reopened.kinds().codes) == bytes(grandchild.kinds().codes)
    check(reopened, rng)


def test_an_answer_with_notes_is_not_an_empty_one() -> None:
    ledger = Ledger()
    ledger.append("assistant", "", time=0.0)
    ledger.append("assistant", "", time=0.0, usage={"notes": ["tool lookup chosen by keyword"]})
    assert list(ledger.kinds().codes) == [0, KINDS.index("assistant")]
