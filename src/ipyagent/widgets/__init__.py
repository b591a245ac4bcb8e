"""Live views of an agent for JupyterLab (anywidget), with a plain-text fallback.

Each function takes an :class:`~ipyagent.Agent` and returns a widget; show it by making it the
last expression of a cell, or with ``IPython.display.display(w)``. Every widget subscribes to the
agent (the agent never imports this package), updates while no cell runs, sends at most ~30
updates a second to the browser (token bursts are coalesced), and where widgets cannot render
(nbconvert, a terminal) shows readable text instead.

==========================  =========================================================  ===========
function                    what it shows                                              magic
==========================  =========================================================  ===========
``ledger_view(agent)``      every ledger entry, coloured by role; tool calls with      ``%ledger``
                            status and duration; click to expand arguments/results;
                            filter by role; follow a sub-agent (virtualised list)
``notifications(agent)``    tool results, errors, timers, sub-agent reports as they
                            arrive (including sub-agents')
``chat_box(agent)``         the conversation, the live answer and the state; sending   ``%chat``
                            while the agent generates or speaks interrupts it
``state_indicator(agent)``  idle / listening / generating / emitting, live
``agent_tree(agent)``       the agent and its sub-agents, live states, cancel buttons  ``%agents``
``timeline(agent)``         states and tool-call spans over time (Gantt picture)       ``%timeline``
``voice(agent)``            microphone, level, transcript and speaker: the agent       ``%voice``
                            listens and answers aloud (``tts="espeak"``/``"gtts"``)
==========================  =========================================================  ===========

Every function also accepts ``interval=`` (seconds between browser updates, default 1/30) and
``timer=`` (a :class:`~ipyagent.throttle.Timer`; tests pass a virtual one).
Calls from the widgets into the agent (chat, cancel, interrupt) run on the agent's own event loop,
whichever thread the browser's message arrives on. Once every view of a widget has gone (its
output cleared, its cell re-run) it stops sending until a view appears again; ``w.close()``
unsubscribes it for good. The messages both ways are typed in ``wire.py`` and ``js/wire.d.ts``.
"""

from __future__ import annotations

from typing import Any

from ..agents import Agent
from .base import AgentWidget
from .chat import ChatBox
from .ledger import LedgerView
from .notifications import NotificationsFeed
from .state import StateIndicator
from .timeline import Timeline
from .tree import AgentTree


def ledger_view(agent: Agent, **options: Any) -> LedgerView:
    """The live ledger of ``agent``."""
    return LedgerView(agent, **options)


def notifications(agent: Agent, **options: Any) -> NotificationsFeed:
    """A feed of the notifications ``agent`` and its sub-agents receive."""
    return NotificationsFeed(agent, **options)


def chat_box(agent: Agent, **options: Any) -> ChatBox:
    """A chat with ``agent``."""
    return ChatBox(agent, **options)


def state_indicator(agent: Agent, **options: Any) -> StateIndicator:
    """The dialog state of ``agent``."""
    return StateIndicator(agent, **options)


def agent_tree(agent: Agent, **options: Any) -> AgentTree:
    """``agent`` and its sub-agents, with cancel buttons."""
    return AgentTree(agent, **options)


def timeline(agent: Agent, **options: Any) -> Timeline:
    """States and background tasks of ``agent`` and its sub-agents over time."""
    return Timeline(agent, **options)


def voice(agent: Agent, tts: str = "piper", **options: Any) -> Any:
    """Attach voice to ``agent`` and return the voice widget (display it, or let a cell show it).

    ``tts``: ``"piper"`` (offline, default), ``"espeak"`` (light fallback) or ``"gtts"`` (online).
    Other options go to :class:`ipyagent.widgets.voice.VoiceWidget` (``aggressiveness``,
    ``onset_frames``, ``hangover_frames``; ``turn_detection=False`` ends turns on silence alone;
    ``speculate=False`` waits for the end of the turn before the model starts, instead of starting
    it on the words heard at the user's first pause and keeping the answer if they were all (the
    default, ``None``, does that unless the model is a scripted one, whose fixed turns a discarded
    guess would use up);
    ``interruption=InterruptionPolicy(...)`` sets when the user's voice cuts an answer off).
    Raises :class:`~ipyagent.audio.VoiceError` with a one-line reason when a component is
    unusable (say, gtts while offline).
    """
    from .voice import VoiceWidget

    return VoiceWidget.attach(agent, tts=tts, **options)


__all__ = [
    "AgentTree",
    "AgentWidget",
    "ChatBox",
    "LedgerView",
    "NotificationsFeed",
    "StateIndicator",
    "Timeline",
    "agent_tree",
    "chat_box",
    "ledger_view",
    "notifications",
    "state_indicator",
    "timeline",
    "voice",
]
