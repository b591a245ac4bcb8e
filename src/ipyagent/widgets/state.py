"""The dialog state indicator: idle, listening, generating or emitting, live."""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import AgentStatusChanged, StateChanged, TaskChanged, Update
from .base import CSS, AgentWidget, esm


class StateIndicator(AgentWidget):
    """``state_indicator(agent)``: a badge with the state, the agent's status and its running tasks."""

    _esm = esm("state.js")
    _css = CSS
    name = t.Unicode("").tag(sync=True)
    state = t.Unicode("idle").tag(sync=True)
    status = t.Unicode("new").tag(sync=True)
    running = t.Int(0).tag(sync=True)

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        super().__init__(agent, name=agent.path, **self._read(agent), **kwargs)

    @staticmethod
    def _read(agent: Agent) -> dict[str, Any]:
        running = sum(1 for task in agent.tasks if task.running)
        return {"state": str(agent.state), "status": agent.status, "running": running}

    def collect(self, update: Update) -> bool:
        return isinstance(update, StateChanged | AgentStatusChanged | TaskChanged)

    def flush(self) -> None:
        with self.hold_sync():
            for key, value in self._read(self.agent).items():
                setattr(self, key, value)

    def text(self) -> str:
        running = self._read(self.agent)["running"]
        tasks = f", {running} task(s) running" if running else ""
        return f"{self.agent.path}: {self.agent.state} ({self.agent.status}{tasks})"
