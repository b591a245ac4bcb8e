"""The timeline: each agent's dialog states and each background task as spans over time (a Gantt
picture), with ticks for user turns, notifications and interruptions — the asynchrony, visible.

It records states from the moment it is created; tasks that already exist are included, and time
0 is the earliest of them (or the moment it was created).
"""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import EntryAdded, StateChanged, TaskChanged, Update
from ..clock import RealClock
from ..dispatch.tasks import BackgroundTask
from ..errors import one_line
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
        # Time 0 is the earliest task already known, so earlier spans are not cut off.
        self._t0 = min([now, *(task.started for a in agent.walk() for task in a.tasks)])
        self._t0_wall = agent.clock.wall() - (now - self._t0)
        # lane key -> lane; a state lane per agent, a task lane per task
        self._lanes: dict[str, dict[str, Any]] = {}
        self._marks: list[dict[str, Any]] = []
        for a in agent.walk():
            self._state_lane(a)["spans"].append({"s": now - self._t0, "e": None, "v": str(a.state)})
            for task in a.tasks:
                self._task(a, task)
        super().__init__(agent, data=self._data(agent), **kwargs)

    def _rel(self, agent: Agent, t: float | None) -> float | None:
        return None if t is None else t - self._t0

    def _state_lane(self, agent: Agent) -> dict[str, Any]:
        key = f"state:{agent.path}"
        if key not in self._lanes:
            self._lanes[key] = {"agent": agent.path, "kind": "state", "label": agent.path, "spans": []}
        return self._lanes[key]

    def _task(self, agent: Agent, task: BackgroundTask) -> None:
        key = f"task:{agent.path}:{task.task_id}"
        label = f"{task.task_id} {task.name}"
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
                spans = self._state_lane(agent)["spans"]
                at = time - self._t0
                if spans and spans[-1]["e"] is None:
                    spans[-1]["e"] = at
                spans.append({"s": at, "e": None, "v": str(new)})
                del spans[:-MAX_SPANS]
            case TaskChanged(task=task):
                self._task(agent, task)
            case EntryAdded(entry=entry) if entry.kind in _MARKED:
                if agent is not self.agent and entry.index < agent.ledger.fork_point:
                    return False
                what = entry.kind if entry.kind != "notification" else (entry.source or entry.kind)
                at = entry.time - self._t0_wall
                self._marks.append({"agent": agent.path, "t": at, "kind": what, "text": entry.text[:120]})
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
