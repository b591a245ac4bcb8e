"""The chat box: talk to the agent; sending while it generates or speaks interrupts it at once."""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..agents import Agent
from ..agents.updates import AgentStatusChanged, EntryAdded, StateChanged, TextDelivered, Update
from ..errors import one_line
from ..fsm import State
from ..ledger import Entry
from ..markdown import to_html
from .base import CSS, AgentWidget, esm
from .wire import ClientMsg, clip

LIMIT = 200  # messages kept in the transcript
_BUSY = (State.GENERATING, State.EMITTING)


def line(entry: Entry) -> dict[str, Any] | None:
    if entry.kind == "user" or (entry.kind == "assistant" and entry.text.strip()):
        text = clip(entry.text)[0]
        item: dict[str, Any] = {"i": entry.index, "role": entry.kind, "text": text}
        if entry.kind == "assistant":
            item["html"] = to_html(text)  # Markdown, rendered and made safe on this side
        if entry.status:
            item["status"] = entry.status
        return item
    if entry.kind == "interruption":
        return {"i": entry.index, "role": "interruption", "text": entry.text}
    return None


class ChatBox(AgentWidget):
    """``chat_box(agent)``: the conversation, the live answer, the state, and a message box."""

    _esm = esm("chat.js")
    _css = CSS
    name = t.Unicode("").tag(sync=True)
    lines = t.List(t.Dict()).tag(sync=True)
    live = t.Unicode("").tag(sync=True)
    live_html = t.Unicode("").tag(sync=True)  # the live answer as Markdown (see ..markdown)
    state = t.Unicode("idle").tag(sync=True)
    status = t.Unicode("new").tag(sync=True)
    accepts = frozenset({"send", "interrupt"})

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        seed = [x for x in map(line, agent.ledger) if x is not None][-LIMIT:]
        super().__init__(
            agent, name=agent.path, lines=seed, state=str(agent.state), status=agent.status, **kwargs
        )
        self._lines = list(seed)
        self._live = ""
        self._live_gen = -1

    def collect(self, update: Update) -> bool:
        match update:
            case EntryAdded(entry=entry):
                item = line(entry)
                if item is None:
                    return False
                self._lines = [*self._lines, item][-LIMIT:]
                if entry.kind == "assistant":
                    self._live = ""
            case TextDelivered(generation=gen, text=text):
                if gen != self._live_gen:
                    self._live_gen, self._live = gen, ""
                self._live += text
            case StateChanged(new=new):
                if new in (State.IDLE, State.LISTENING):
                    self._live = ""
            case AgentStatusChanged():
                pass
            case _:
                return False
        return True

    def flush(self) -> None:
        with self.hold_sync():
            if self.lines != self._lines:
                self.lines = self._lines
            if self.live != self._live:
                self.live = self._live
                self.live_html = to_html(self._live) if self._live.strip() else ""
            self.state = str(self.agent.state)
            self.status = self.agent.status

    def handle(self, msg: ClientMsg) -> None:
        if msg["type"] == "interrupt":
            self.call_on_agent(lambda: self.agent.interrupt("the user pressed stop", source="button"))
            return
        assert msg["type"] == "send"
        text = msg["text"].strip()
        if not text:
            self.send_msg({"type": "error", "text": "type a message first"})
            return
        agent = self.agent

        async def send() -> None:
            # Decided on the agent's loop, so the state cannot change in between.
            await agent.send(text, interrupt=agent.state in _BUSY, source="chat")

        self.run_on_agent(send)

    def text(self) -> str:
        rows = [f"chat with {self.agent.path} ({self.agent.state}):"]
        for item in self._lines[-30:]:
            who = {"user": "you", "assistant": self.agent.name}.get(item["role"], "--")
            rows.append(f"  {who}: {one_line(item['text'], 300)}")
        if self._live:
            rows.append(f"  {self.agent.name} (speaking): {one_line(self._live[-300:], 300)}")
        return "\n".join(rows)
