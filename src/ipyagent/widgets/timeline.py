"""The timeline: each agent's dialog states and each background task as spans over time (a Gantt
picture), with ticks for user turns, notifications and interruptions — the asynchrony, visible.

Opened at any moment it draws the whole session so far: each agent keeps the history of its
states (:attr:`Agent.state_history`), tasks keep their start and end, and the ticks come from the
ledger. Time 0 is when the agent was created (or the earliest task, if earlier).
"""

from __future__ import annotations

from typing import Any

import traitlets as t

from .. import palette
from ..agents import Agent
from ..agents.updates import EntryAdded, StateChanged, TaskChanged, Update
from ..clock import RealClock
from ..dispatch.tasks import BackgroundTask
from ..errors import one_line
from ..ledger import Entry
from ..ledger.text import qualified_task_id
from .base import CSS, AgentWidget, esm

MAX_SPANS = 2000  # per lane; older spans are dropped
MAX_TASKS = 100  # task lanes; beyond that the oldest finished tasks are dropped
_MARKED = {"user", "notification", "interruption"}


class Timeline(AgentWidget):
    """``timeline(agent)``: states and tool calls of ``agent`` and its sub-agents over time."""

    _esm = esm("timeline.js")
    _css = CSS
    data = t.Dict().tag(sync=True)
    with_children = True

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        now = agent.clock.now()
        agents = list(agent.walk())
        history = {a.path: a.state_history for a in agents}
        # Time 0 is the agent's first recorded state, or an earlier task: nothing is cut off.
        self._t0 = min(
            [now, *(h[0][0] for h in history.values() if h), *(t.started for a in agents for t in a.tasks)]
        )
        self._t0_wall = agent.clock.wall() - (now - self._t0)
        # lane key -> lane; a state lane per agent, a task lane per task
        self._lanes: dict[str, dict[str, Any]] = {}
        self._marks: list[dict[str, Any]] = []
        for a in agents:
            spans = self._state_lane(a)["spans"]
            for at, state in history[a.path] or [(now, a.state)]:
                self._enter(spans, at - self._t0, str(state))
            for task in a.tasks:
                self._task(a, task)
            for entry in a.ledger.own if a is not agent else a.ledger:
                if entry.kind in _MARKED and entry.time >= self._t0_wall - 1e-6:
                    self._mark(a, entry)
        self._marks.sort(key=lambda m: float(m["t"]))
        del self._marks[:-MAX_SPANS]
        super().__init__(agent, data=self._data(agent), **kwargs)

    @staticmethod
    def _enter(spans: list[dict[str, Any]], at: float, state: str) -> None:
        """Close the open span at ``at`` and open one for ``state``."""
        if spans and spans[-1]["e"] is None:
            spans[-1]["e"] = at
        spans.append({"s": at, "e": None, "v": state})
        del spans[:-MAX_SPANS]

    def _mark(self, agent: Agent, entry: Entry) -> None:
        at = entry.time - self._t0_wall
        what = entry.kind if entry.kind != "notification" else f"{entry.source or 'notification'}"
        self._marks.append(
            {"agent": agent.path, "t": at, "kind": entry.kind, "what": what, "text": entry.text[:120]}
        )

    def _rel(self, agent: Agent, t: float | None) -> float | None:
        return None if t is None else t - self._t0

    def _state_lane(self, agent: Agent) -> dict[str, Any]:
        key = f"state:{agent.path}"
        if key not in self._lanes:
            self._lanes[key] = {"agent": agent.path, "kind": "state", "label": agent.path, "spans": []}
        return self._lanes[key]

    def _task(self, agent: Agent, task: BackgroundTask) -> None:
        key = f"task:{agent.path}:{task.task_id}"
        label = f"{qualified_task_id(agent.path, task.task_id)} {task.name}"
        if task.running and task.progress is not None:
            label += f" · {one_line(task.progress.text, 40)}"
        end = self._rel(agent, task.finished)
        self._lanes[key] = {
            "agent": agent.path,
            "kind": "task",
            "label": label,
            "spans": [{"s": self._rel(agent, task.started), "e": end, "v": task.status}],
        }
        finished = [
            k
            for k, lane in self._lanes.items()
            if lane["kind"] == "task" and lane["spans"][0]["e"] is not None
        ]
        excess = sum(1 for lane in self._lanes.values() if lane["kind"] == "task") - MAX_TASKS
        for k in sorted(finished, key=lambda k: self._lanes[k]["spans"][0]["s"])[: max(0, excess)]:
            del self._lanes[k]

    def collect(self, update: Update) -> bool:
        agent = update.agent
        match update:
            case StateChanged(new=new, time=time):
                self._enter(self._state_lane(agent)["spans"], time - self._t0, str(new))
            case TaskChanged(task=task):
                self._task(agent, task)
            case EntryAdded(entry=entry) if entry.kind in _MARKED:
                if agent is not self.agent and entry.index < agent.ledger.fork_point:
                    return False
                self._mark(agent, entry)
                del self._marks[:-MAX_SPANS]
            case _:
                return False
        return True

    def _data(self, agent: Agent) -> dict[str, Any]:
        # Lanes in tree order: each agent's state lane, then its tasks.
        order = {a.path: i for i, a in enumerate(agent.walk())}
        lanes = sorted(
            self._lanes.values(),
            key=lambda lane: (order.get(lane["agent"], len(order)), lane["kind"] != "state"),
        )
        return {
            "t0": self._t0_wall,
            "now": agent.clock.now() - self._t0,
            "real": isinstance(agent.clock, RealClock),
            "lanes": [dict(lane, spans=list(lane["spans"])) for lane in lanes],
            "marks": list(self._marks),
            "palette": palette.as_dict(),
        }

    def flush(self) -> None:
        self.data = self._data(self.agent)

    def text(self) -> str:
        data = self._data(self.agent)
        lines = [f"timeline of {self.agent.path}, in seconds (now {data['now']:.2f}):"]
        for lane in data["lanes"]:
            spans = lane["spans"] if lane["kind"] == "task" else lane["spans"][-12:]
            parts = []
            for s in spans:
                end = "…" if s["e"] is None else f"{s['e']:.2f}"
                parts.append(f"{s['v']} {s['s']:.2f}–{end}")
            lines.append(f"  {one_line(lane['label'], 60):<28} " + ", ".join(parts))
        return "\n".join(lines)
