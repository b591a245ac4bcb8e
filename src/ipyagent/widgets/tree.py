"""The agent tree: the agent and its sub-agents with live states, and a cancel button for each."""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import AgentStatusChanged, StateChanged, TaskChanged, Update
from ..errors import one_line
from .base import CSS, AgentWidget, esm, find
from .wire import ClientMsg


def node(agent: Agent) -> dict[str, Any]:
    how, task = "root", ""
    if agent.parent is not None and agent.task_id is not None:
        bg = agent.parent.task(agent.task_id)
        if bg is not None:
            how, task = str(bg.arguments.get("how", "fork")), str(bg.arguments.get("task", ""))
    return {
        "path": agent.path,
        "name": agent.name,
        "how": how,
        "status": agent.status,
        "state": str(agent.state),
        "running": sum(1 for x in agent.tasks if x.running),
        "task": task[:200],
        "failure": agent.failure,
        "children": [node(c) for c in list(agent.children.values())],
    }


class AgentTree(AgentWidget):
    """``agent_tree(agent)``: the tree under ``agent``."""

    _esm = esm("tree.js")
    _css = CSS
    tree = t.Dict().tag(sync=True)
    accepts = frozenset({"cancel"})
    with_children = True

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        super().__init__(agent, tree=node(agent), **kwargs)

    def collect(self, update: Update) -> bool:
        return isinstance(update, StateChanged | AgentStatusChanged | TaskChanged)

    def flush(self) -> None:
        self.tree = node(self.agent)

    def handle(self, msg: ClientMsg) -> None:
        assert msg["type"] == "cancel"
        target = find(self.agent, msg["path"])
        self.call_on_agent(lambda: target.cancel("cancelled from the agent tree"))

    def text(self) -> str:
        lines: list[str] = []

        def walk(n: dict[str, Any], depth: int) -> None:
            how = "" if n["how"] == "root" else f" ({n['how']})"
            tasks = f", {n['running']} task(s) running" if n["running"] else ""
            failed = n["failure"] and n["status"] in ("failed", "cancelled")
            why = f": {one_line(n['failure'], 200)}" if failed else ""
            lead = "  " * depth + ("└ " if depth else "")
            word = n["state"] if n["status"] == "running" else n["status"]
            lines.append(f"{lead}{n['name']}{how}  {word}{tasks}{why}")
            for c in n["children"]:
                walk(c, depth + 1)

        walk(node(self.agent), 0)
        return "\n".join(lines)
