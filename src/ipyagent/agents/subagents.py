"""A sub-agent's life: how a parent starts one (fork or spawn) as one of its background tasks,
how it is named, how its answer or failure reaches the parent, and the child's own run from its
task to its answer. The tree the sub-agents form (walking it, finding one) is :mod:`.tree`.

These functions are the :class:`~ipyagent.Agent`'s own (``Agent.fork``, ``Agent.spawn``,
``Agent.start_child`` and the ``fork``/``spawn``/``cancel_task`` tools go through them), so they
use its internals: the same room, another file.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Literal

import anyio

from .. import events as ev
from ..dispatch.tasks import BackgroundTask, Outcome
from ..errors import AgentError

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["MAX_SUBAGENT_DEPTH", "SubAgentHow", "cancel_child", "start_child", "work_on"]

# How a sub-agent starts: "fork" (it knows the conversation so far) or "spawn" (only its task).
SubAgentHow = Literal["fork", "spawn"]
# A model that forks from every sub-agent would otherwise build an endless chain.
MAX_SUBAGENT_DEPTH = 4


def start_child(
    parent: Agent, how: SubAgentHow, task: str, name: str | None = None, *, call_id: str | None = None
) -> tuple[Agent, BackgroundTask]:
    """Create a sub-agent of ``parent`` and start it as one of the parent's background tasks.
    ``call_id``: the model's tool call that asked for it (the ledger has its entry already)."""
    if parent.status != "running" or parent._tg is None:
        raise AgentError(f"agent {parent.name!r} is not running; start it before forking")
    if how not in ("fork", "spawn"):
        raise AgentError(f"a sub-agent is started by 'fork' or 'spawn', not {how!r}")
    if not isinstance(task, str) or not task.strip():
        raise AgentError("a sub-agent needs a non-empty task")
    if parent.path.count("/") + 1 > MAX_SUBAGENT_DEPTH:
        raise AgentError(
            f"sub-agents nest at most {MAX_SUBAGENT_DEPTH} deep; {parent.path!r} cannot start another, "
            "do the task yourself"
        )
    if not name:
        name = next(n for n in (f"{how}-{i}" for i in parent._child_ids) if not _name_taken(parent, n))
    if _name_taken(parent, name):
        raise AgentError(f"a sub-agent named {name!r} already exists; pick another name")
    path = f"{parent.path}/{name}"
    ledger = parent.ledger.fork(path) if how == "fork" else parent.ledger.spawn(path)
    child = type(parent)(
        parent.backend,
        tools=parent._user_tools,
        name=name,
        instructions=parent.instructions
        + f" You are the sub-agent {name!r}; your final answer goes to your parent.",
        clock=parent.clock,
        ledger=ledger,
        listen_timeout=parent.listen_timeout,
        fold_window=parent.fold_window,
        builtins=parent._builtins,
        parent=parent,
    )
    parent.children[name] = child

    def notify(bg: BackgroundTask, outcome: Outcome, text: str) -> ev.Notification:
        if outcome == "ok":
            return ev.SubAgentReport(text, task_id=bg.task_id, name=name, ok=True)
        why = child.failure or text
        return ev.SubAgentReport(
            f"sub-agent {name!r} did not finish: {why}", task_id=bg.task_id, name=name, ok=False
        )

    bg = parent.runner.start(
        name,
        "subagent",
        functools.partial(work_on, child, task),
        arguments={"how": how, "task": task},
        call_id=call_id,
        notify=notify,
    )
    child.task_id = bg.task_id
    if call_id is None:
        parent._record("subagent", task, name=name, status=how, task_id=bg.task_id)
    return child, bg


def cancel_child(parent: Agent, name: str) -> bool:
    """Cancel the sub-agent ``name`` of ``parent`` (and everything under it); False if none."""
    child = parent.children.get(name)
    if child is not None:
        child.cancel("cancelled by its parent")
    return child is not None


def _name_taken(parent: Agent, name: str) -> bool:
    """Whether a sub-agent of that name runs, or ran in this session (a resumed one too)."""
    store = parent.ledger.store
    return name in parent.children or (store is not None and store.find(f"{parent.path}/{name}") is not None)


async def work_on(child: Agent, task: str) -> str:
    """A sub-agent's whole life: take the task, work until settled, return the answer."""
    finished = False
    try:
        async with anyio.create_task_group() as tg:
            child._begin(tg)
            child._queue.put(ev.UserMessage(task, "task"))
            await child.settled()
            finished = True
            tg.cancel_scope.cancel(reason="finished")
    finally:
        if child.status == "running" and not finished:  # cancelled through its task in the parent
            child._wind_down("cancelled by its parent")
            child._set_status("cancelled", "cancelled by its parent")
        child._tg = None
    if child.status == "cancelled":
        raise AgentError(f"sub-agent {child.name!r} was cancelled: {child.failure}")
    answer, failure = child.final_answer()
    if failure is not None:
        child._set_status("failed", failure)
        raise AgentError(failure)
    child._set_status("done")
    return answer or "(finished without an answer)"
