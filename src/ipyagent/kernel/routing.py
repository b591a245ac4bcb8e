"""Which cell shows what: the agents' updates routed to the live views of their cells.

An exchange view is registered under the id of its message (:meth:`ViewRouter.expect`); when the
agent records that message (an :class:`~ipyagent.agents.EventHandled` for the ``UserMessage``
carrying the id, then the ``user`` entry it writes), the view starts there, and the view before
it ends. A sub-agent's view is its cell for the sub-agent's whole life. A view whose tool call is
still running keeps receiving its task's changes after a later exchange took over.

Everything here runs on the agent's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import events as ev
from ..fsm import Effect
from .approval import CODE_TOOL, Approval
from .views import ExchangeView, SubAgentView

if TYPE_CHECKING:
    from ..agents import Agent, EventHandled, Update

View = ExchangeView | SubAgentView


class ViewRouter:
    """The live views of one main agent's cells, and the updates that reach each."""

    def __init__(self) -> None:
        self.main: Agent | None = None
        # Exchange views by message id, until the agent records their message. Invariant: a
        # view is in at most one of ``_expected``, ``_recording`` and ``current``.
        self._expected: dict[str, ExchangeView] = {}
        self._recording: ExchangeView | None = None  # its user entry is being written now
        self.current: ExchangeView | None = None
        self._child_views: dict[str, SubAgentView] = {}
        self._task_views: dict[tuple[str, str], View] = {}

    def expect(self, exchange: str, view: ExchangeView) -> None:
        """``view`` shows the exchange the message with id ``exchange`` starts."""
        self._expected[exchange] = view

    def add_child(self, agent: Agent, view: SubAgentView) -> None:
        self._child_views[agent.path] = view

    def view_of(self, agent: Agent) -> View | None:
        if agent is self.main:
            return self.current
        return self._child_views.get(agent.path)

    def views(self) -> list[View]:
        """The views that may still change: the current exchange, sub-agents, views with tasks."""
        found: dict[int, View] = {}
        for view in [self.current, *self._child_views.values(), *self._task_views.values()]:
            if view is not None:
                found[id(view)] = view
        return list(found.values())

    def all_changed(self) -> None:
        for view in self.views():
            view.changed()

    def place(self, approval: Approval, agents: list[Agent]) -> None:
        """Show a request to run code in the view of the agent whose running call asks for it."""
        view = self._asking_view(approval.code, agents)
        if view is not None:
            view.approvals.append(approval)
            view.changed()

    def _asking_view(self, code: str, agents: list[Agent]) -> View | None:
        for agent in reversed(agents):
            for task in agent.tasks:
                if task.running and task.name == CODE_TOOL and task.arguments.get("code") == code:
                    view = self.view_of(agent)
                    if view is not None:
                        return view
        return self.current

    def on_update(self, update: Update) -> None:
        from ..agents.updates import EntryAdded, EventHandled, ModelStatus, TaskChanged, TextDelivered

        agent = update.agent
        if agent is self.main:
            if isinstance(update, EventHandled):
                self._on_handled(update)
            elif isinstance(update, EntryAdded) and update.entry.kind == "user":
                self._start_exchange(update.entry.index)
        view = self.view_of(agent)
        if isinstance(update, TextDelivered) and view is not None:
            view.live[update.generation] = view.live.get(update.generation, "") + update.text
            view.model_status = ""
        elif isinstance(update, ModelStatus) and view is not None:
            view.model_status = update.text
        elif isinstance(update, EntryAdded) and view is not None:
            entry = update.entry
            if entry.kind == "assistant" and entry.generation is not None:
                view.live.pop(entry.generation, None)
            if entry.kind == "tool_result" and entry.task_id:
                self._task_views[(agent.path, entry.task_id)] = view
        elif isinstance(update, TaskChanged):
            key = (agent.path, update.task.task_id)
            owner = self._task_views.get(key)
            if owner is not None and owner is not view:
                owner.changed()
            if owner is not None and not update.task.running:
                del self._task_views[key]
        if view is not None:
            view.changed()
        if agent is not self.main and self.current is not None:
            self.current.changed()  # a sub-agent's progress shows in its task line

    def _on_handled(self, update: EventHandled) -> None:
        """The main agent took a message off its queue: if it records it now, its view starts."""
        event, transition = update.event, update.transition
        if not isinstance(event, ev.UserMessage) or event.exchange is None or transition is None:
            return
        if Effect.RECORD_USER in transition.effects:
            self._recording = self._expected.pop(event.exchange, None)

    def _start_exchange(self, index: int) -> None:
        view, self._recording = self._recording, None
        if view is None:
            return  # a message from elsewhere (the chat box, voice): it stays in the current cell
        if self.current is not None:
            self.current.end = index
            self.current.changed()
        self.current = view
        view.start = index
