"""Waiting for an agent to reach a condition, without sleeping: re-checked after every update."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ..agents.updates import StateChanged, Update
from ..fsm import State

if TYPE_CHECKING:
    from ..agents import Agent


def kinds(agent: Agent) -> list[str]:
    """The kinds of the agent's ledger entries, leaving out the system message."""
    return [e.kind for e in agent.ledger if e.kind != "system"]


async def wait_for(agent: Agent, predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds; it is checked after each update of the agent or its
    sub-agents. Bound it with a timeout (or a virtual clock) in tests."""
    changed = anyio.Event()

    def on_update(_: Update) -> None:
        changed.set()

    unsubscribe = agent.subscribe(on_update, children=True)
    try:
        while not predicate():
            await changed.wait()
            changed = anyio.Event()
    finally:
        unsubscribe()


async def wait_for_state(agent: Agent, state: State) -> None:
    """Wait until the agent's dialog state is ``state``."""
    await wait_for(agent, lambda: agent.state is state)


def record_states(agent: Agent) -> list[State]:
    """A list that fills with every state the agent enters from now on."""
    states: list[State] = []

    def on_update(update: Update) -> None:
        if isinstance(update, StateChanged) and update.agent is agent:
            states.append(update.new)

    agent.subscribe(on_update)
    return states
