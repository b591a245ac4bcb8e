"""Tools every agent has: sleep, timers, task control, and sub-agents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..clock import format_duration
from ..dispatch.tasks import BackgroundTask, Outcome
from ..dispatch.tools import Tool
from ..errors import AgentError, ToolCallError
from ..events import Notification, TimerFired, ToolCancelled

if TYPE_CHECKING:
    from ..dispatch.dispatcher import Dispatcher
    from .agent import Agent

Starter = Callable[[dict[str, Any], "str | None"], BackgroundTask]


@dataclass(frozen=True, eq=False)
class _StartedTool(Tool):
    """A built-in whose start is not "call the function": a timer or a sub-agent."""

    starter: Starter | None = field(default=None, kw_only=True)

    def start(self, dispatcher: Dispatcher, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        assert self.starter is not None
        return self.starter(arguments, call_id)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


SECONDS = {"type": "number", "minimum": 0, "maximum": 7 * 86400}
NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"}


def builtin_tools(agent: Agent) -> list[Tool]:
    """The built-in tools, bound to ``agent``."""
    clock = agent.clock

    async def sleep(seconds: float) -> str:
        await clock.sleep(seconds)
        return f"slept {format_duration(seconds)}"

    def start_timer(arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        seconds, label = float(arguments["seconds"]), str(arguments["label"])

        def notify(task: BackgroundTask, outcome: Outcome, text: str) -> Notification:
            if outcome == "ok":
                message = f"timer {label!r} went off ({format_duration(seconds)} after it was set)"
                return TimerFired(message, task_id=task.task_id, name="set_timer")
            return ToolCancelled(f"timer {label!r} {text}", task_id=task.task_id, name="set_timer")

        return agent.dispatcher.start_task(
            "set_timer",
            "timer",
            lambda: clock.sleep(seconds),
            arguments=arguments,
            call_id=call_id,
            notify=notify,
        )

    async def cancel_task(task_id: str) -> str:
        task = agent.dispatcher.tasks.get(task_id)
        if task is None:
            known = ", ".join(agent.dispatcher.tasks) or "none"
            raise ValueError(f"there is no task {task_id!r}; tasks: {known}")
        if task.kind == "subagent" and task.name in agent.children:
            agent.children[task.name].cancel("cancelled by its parent")
            return f"cancelled sub-agent {task.name!r} ({task_id})"
        if not agent.dispatcher.cancel_task(task_id, "cancelled by the agent"):
            return f"task {task_id} had already ended ({task.status})"
        return f"cancelled task {task_id} ({task.name})"

    async def list_tasks() -> str:
        tasks = list(agent.dispatcher.tasks.values())
        if not tasks:
            return "no tasks yet"
        now = clock.now()
        lines = [
            f"{t.task_id} {t.name} ({t.kind}): "
            f"{'running for' if t.running else t.status + ' after'} {format_duration(t.elapsed(now))}"
            for t in tasks
        ]
        return "\n".join(lines)

    def child_starter(how: str) -> Starter:
        def start(arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
            try:
                return agent.start_child(how, arguments["task"], arguments["name"], call_id=call_id)[1]
            except AgentError as exc:
                raise ToolCallError(how, str(exc)) from None

        return start

    child_params = _schema({"name": NAME, "task": {"type": "string", "minLength": 1}}, ["name", "task"])
    return [
        Tool(
            sleep,
            "sleep",
            "Wait for a number of seconds, then get a notification.",
            _schema({"seconds": SECONDS}, ["seconds"]),
        ),
        _StartedTool(
            lambda **_: None,
            "set_timer",
            "Set a timer; a notification with its label arrives when it goes off.",
            _schema({"seconds": SECONDS, "label": {"type": "string"}}, ["seconds", "label"]),
            starter=start_timer,
        ),
        Tool(
            cancel_task,
            "cancel_task",
            "Cancel a running task (a tool, timer or sub-agent) by its id.",
            _schema({"task_id": {"type": "string"}}, ["task_id"]),
        ),
        Tool(
            list_tasks,
            "list_tasks",
            "List all tasks with their status and how long they have run.",
            _schema({}, []),
        ),
        _StartedTool(
            lambda **_: None,
            "fork",
            "Start a sub-agent that knows this whole conversation and works on a task; "
            "its answer arrives as a notification.",
            child_params,
            starter=child_starter("fork"),
        ),
        _StartedTool(
            lambda **_: None,
            "spawn",
            "Start a fresh sub-agent that knows only the task you give it; "
            "its answer arrives as a notification.",
            child_params,
            starter=child_starter("spawn"),
        ),
    ]
