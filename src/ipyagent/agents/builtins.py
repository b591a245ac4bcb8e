"""Tools every agent has: sleep, timers, task control, and sub-agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..clock import Clock, format_duration
from ..dispatch.tasks import BackgroundTask, Outcome, TaskRunner
from ..dispatch.tools import BaseTool, StartedTool, Starter, Tool
from ..errors import AgentError, ToolCallError
from ..events import Notification, TimerFired, ToolCancelled
from .tree import AGENT_NAME

if TYPE_CHECKING:
    from .subagents import SubAgentHow

# Starts a sub-agent as a task: ``(how, task, name, call_id) -> its task``; raises AgentError.
StartChild = Callable[["SubAgentHow", str, str, "str | None"], BackgroundTask]
# Cancels the sub-agent of that name; False if there is none.
CancelChild = Callable[[str], bool]


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


SECONDS = {"type": "number", "minimum": 0, "maximum": 7 * 86400}
NAME = {"type": "string", "pattern": AGENT_NAME.pattern}


def builtin_tools(
    *, clock: Clock, runner: TaskRunner, start_child: StartChild, cancel_child: CancelChild
) -> list[BaseTool]:
    """The built-in tools, working with an agent's clock, task runner and sub-agents."""

    async def sleep(seconds: float) -> str:
        await clock.sleep(seconds)
        return f"slept {format_duration(seconds)}"

    def start_timer(runner: TaskRunner, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        seconds, label = float(arguments["seconds"]), str(arguments["label"])

        def notify(task: BackgroundTask, outcome: Outcome, text: str) -> Notification:
            if outcome == "ok":
                message = f"timer {label!r} went off ({format_duration(seconds)} after it was set)"
                return TimerFired(message, task_id=task.task_id, name="set_timer")
            return ToolCancelled(f"timer {label!r} {text}", task_id=task.task_id, name="set_timer")

        return runner.start(
            "set_timer",
            "timer",
            lambda: clock.sleep(seconds),
            arguments=arguments,
            call_id=call_id,
            notify=notify,
        )

    async def cancel_task(task_id: str) -> str:
        task = runner.get(task_id)
        if task is None:
            known = ", ".join(runner.tasks) or "none"
            raise ValueError(f"there is no task {task_id!r}; tasks: {known}")
        if task.kind == "subagent" and cancel_child(task.name):
            return f"cancelled sub-agent {task.name!r} ({task_id})"
        if not runner.cancel(task_id, "cancelled by the agent"):
            return f"task {task_id} had already ended ({task.status})"
        return f"cancelled task {task_id} ({task.name})"

    async def list_tasks() -> str:
        tasks = list(runner.tasks.values())
        if not tasks:
            return "no tasks yet"
        now = clock.now()
        lines = [
            f"{t.task_id} {t.name} ({t.kind}): "
            f"{'running for' if t.running else t.status + ' after'} {format_duration(t.elapsed(now))}"
            for t in tasks
        ]
        return "\n".join(lines)

    def child_starter(how: SubAgentHow) -> Starter:
        def start(runner: TaskRunner, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
            try:
                return start_child(how, arguments["task"], arguments["name"], call_id)
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
        StartedTool(
            "set_timer",
            "Set a timer; a notification with its label arrives when it goes off.",
            _schema({"seconds": SECONDS, "label": {"type": "string"}}, ["seconds", "label"]),
            start_timer,
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
        StartedTool(
            "fork",
            "Start a sub-agent that knows this whole conversation and works on a task; "
            "its answer arrives as a notification.",
            child_params,
            child_starter("fork"),
        ),
        StartedTool(
            "spawn",
            "Start a fresh sub-agent that knows only the task you give it; "
            "its answer arrives as a notification.",
            child_params,
            child_starter("spawn"),
        ),
    ]
