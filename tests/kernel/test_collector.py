"""The kernel's garbage collection policy: no full collections (which stop every thread of the
kernel) while the agents are busy, unless memory grew by half or BUSY_FULL_EVERY seconds passed;
Python's own schedule when they are settled; the start-up heap frozen once, without a full
collection. Memory and time are passed in (virtual); the collector is Python's own."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from ipyagent.kernel.collector import BUSY_FULL_EVERY, BUSY_GROWTH, BUSY_GROWTH_MIN, CollectionPolicy


class Machine:
    """The memory and the clock the policy reads, set by the test."""

    def __init__(self) -> None:
        self.blocks = 4 * BUSY_GROWTH_MIN  # a kernel with a few sessions' worth of objects
        self.now = 0.0


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """Each full collection Python runs, automatic or asked for (its generation is 2)."""
    seen: list[int] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info["collected"])

    threshold = gc.get_threshold()
    gc.callbacks.append(watch)
    try:
        yield seen
    finally:
        gc.callbacks.remove(watch)
        gc.set_threshold(*threshold)
        gc.unfreeze()


@pytest.fixture
def machine() -> Machine:
    return Machine()


@pytest.fixture
def policy(machine: Machine) -> CollectionPolicy:
    return CollectionPolicy(allocated=lambda: machine.blocks, clock=lambda: machine.now)


def make_garbage(rounds: int) -> None:
    """Objects that survive two young collections (as an agent's tasks do), then die, several
    times over: Python's own schedule starts full collections for them (once the objects that
    became old since the last one are a quarter of all the old ones)."""
    for _ in range(rounds):
        keep = [[i] for i in range(len(gc.get_objects()))]
        gc.collect(1)
        gc.collect(1)
        del keep
        for _ in range(12):
            gc.collect(1)  # a young collection, as allocation starts them
        fresh = [[] for _ in range(5 * gc.get_threshold()[0])]  # allocation: Python's own turn
        del fresh


def test_busy_agents_get_no_full_collection_while_memory_is_flat(
    policy: CollectionPolicy, machine: Machine, full_collections: list[int]
) -> None:
    before = gc.get_threshold()
    make_garbage(3)
    assert full_collections, "the garbage above makes Python start full collections by itself"
    full_collections.clear()

    policy.update(busy=True)
    for second in range(1, int(BUSY_FULL_EVERY)):  # a steady load: memory flat
        machine.now = second
        if second % 100 == 0:
            make_garbage(1)  # what would start full collections by itself (above)
        policy.update(busy=True)
    assert full_collections == [] and policy.full_collections == 0

    # Settled: Python's schedule is back, and full collections start again by themselves.
    policy.update(busy=False)
    assert gc.get_threshold() == before
    make_garbage(3)
    assert full_collections
    assert policy.full_collections == 0


def test_memory_growing_by_half_or_a_long_busy_spell_still_gets_collected(
    policy: CollectionPolicy, machine: Machine, full_collections: list[int]
) -> None:
    start = machine.blocks
    policy.update(busy=True)
    machine.blocks = int(start * BUSY_GROWTH) - 1
    policy.update(busy=True)
    assert full_collections == []
    machine.blocks = int(start * BUSY_GROWTH) + 1
    policy.update(busy=True)
    assert len(full_collections) == 1 and policy.full_collections == 1
    # Measured from the memory after that collection.
    machine.blocks += BUSY_GROWTH_MIN
    policy.update(busy=True)
    assert len(full_collections) == 1

    # A small heap grows by half quickly (a burst of tools); that alone is not enough.
    policy.update(busy=False)
    machine.blocks = start = 300_000
    policy.update(busy=True)
    machine.blocks = 2 * start
    policy.update(busy=True)
    assert len(full_collections) == 1
    machine.blocks = start + BUSY_GROWTH_MIN + 1
    policy.update(busy=True)
    assert len(full_collections) == 2

    # Flat memory, but busy for BUSY_FULL_EVERY seconds since: a cycle may hold a large buffer.
    machine.now = BUSY_FULL_EVERY - 1
    policy.update(busy=True)
    assert len(full_collections) == 2
    machine.now = BUSY_FULL_EVERY
    policy.update(busy=True)
    assert len(full_collections) == 3 and policy.full_collections == 3
    assert len(policy.pauses) == 3 and all(p > 0 for p in policy.pauses)


def test_the_start_up_heap_is_frozen_once_when_the_first_work_is_done(
    policy: CollectionPolicy, full_collections: list[int]
) -> None:
    policy.update(busy=False)  # a session whose agent has not worked yet
    assert gc.get_freeze_count() == 0

    policy.update(busy=True)
    policy.update(busy=False)  # its first answer is done
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # this test process's modules, at least
    assert full_collections == []  # frozen without stopping the kernel for a full collection

    policy.update(busy=True)
    policy.update(busy=False)
    assert gc.get_freeze_count() == frozen  # once
    assert policy.busy_periods == 2
