"""The sub-agent tree: walking it, finding an agent in it, and how it reads as text.

Every agent has ``parent`` and ``children``; these are the only walkers of that tree (the
session, the widgets and the reports use them through :class:`~ipyagent.Agent`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..clock import format_duration
from ..ledger.text import qualified_task_id

if TYPE_CHECKING:
    from .agent import Agent

# What an agent's name may be (a sub-agent's path joins names with "/").
AGENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
NAME_RULE = "1-40 letters, digits, '_', '.' or '-'"


def walk(agent: Agent) -> Iterator[Agent]:
    """The agent and all its sub-agents, depth first."""
    yield agent
    for child in list(agent.children.values()):
        yield from walk(child)


def root_of(agent: Agent) -> Agent:
    while agent.parent is not None:
        agent = agent.parent
    return agent


def find(agent: Agent, name: str) -> Agent | None:
    """The first agent under ``agent`` (itself included) whose path or name is ``name``."""
    for a in walk(agent):
        if name in (a.path, a.name):
            return a
    return None


def tree_report(agent: Agent) -> str:
    """The tree under ``agent`` as text: one state word per agent (its dialog state while it runs,
    how it ended otherwise), its ledger size and running tasks (``helper/t1``)."""
    lines: list[str] = []

    def add(a: Agent, depth: int) -> None:
        now = a.clock.now()
        running = [t for t in a.tasks if t.running]
        tasks = ", ".join(
            f"{qualified_task_id(a.path, t.task_id)} {t.name} {format_duration(t.elapsed(now))}"
            for t in running
        )
        indent = "  " * depth + ("└─ " if depth else "")
        # One word per agent: what it does while it runs, how it ended otherwise.
        status = str(a.state) if a.status == "running" else a.status
        if a.failure and a.status != "running":
            status += f": {a.failure}"
        lines.append(
            f"{indent}{a.name:<{max(4, 16 - len(indent))}} {status:<12} "
            f"{len(a.ledger):>4} entries" + (f"   running: {tasks}" if tasks else "")
        )
        for child in a.children.values():
            add(child, depth + 1)

    add(agent, 0)
    return "\n".join(lines)
