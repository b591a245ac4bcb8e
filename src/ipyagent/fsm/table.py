"""The dialog state machine, as one table.

``TABLE[(state, event class)] = Transition(next state, effects, why)``. :func:`step` is pure: it
looks an event up (by its class, then its base classes) and returns the transition; the agent's
runner carries out the effects. Every state has a row for every kind of event, so nothing is ever
dropped silently: a row that drops says so and why. :func:`table_markdown` prints the table, and
that printout is the documentation of the agent's behaviour.

Before lookup the runner discards *stale* events: output of a generation that was already cut off
or finished, and listen timeouts superseded by newer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .. import events as ev
from ..errors import IpyagentError


class State(StrEnum):
    IDLE = "idle"  # nothing in flight; any user turn or notification starts a generation
    LISTENING = "listening"  # the user has the floor (speaking, or just interrupted); the agent holds back
    GENERATING = "generating"  # the model is producing output
    EMITTING = "emitting"  # the model is done; its output is still being delivered (speech playing)


class Effect(StrEnum):
    RECORD_USER = "record the user turn in the ledger"
    RECORD_NOTIFICATION = "record the notification in the ledger"
    REQUEST_GENERATION = "queue GenerateNow (once), behind everything more urgent"
    START_GENERATION = "render the ledger and start the model"
    START_SAYING = "deliver the given text as the answer (no model)"
    EMIT = "deliver the text to the user"
    LAUNCH_TOOL = "start the decoded tool call in the background now"
    FINISH_GENERATION = "close the output (the calls it made have started already)"
    FINISH_EMISSION = "record the answer and its tool calls in the ledger"
    CUT_OUTPUT = "cancel generation and delivery; record what was delivered and an interruption marker"
    RECORD_MODEL_FAILURE = "record the model failure as a notification (no new generation)"
    START_LISTEN_TIMER = "start the listen timer (back to idle if the user stays silent)"
    DEFER = "hold the event until the agent is idle again"
    RELEASE_DEFERRED = "requeue held events, in arrival order"
    DROP = "ignore the event"


@dataclass(frozen=True, slots=True)
class Transition:
    next: State
    effects: tuple[Effect, ...]
    why: str = ""


class InvalidTransition(IpyagentError, LookupError):
    """Raised when the table has no row for a state and event (a bug: the table must be complete)."""

    def __init__(self, state: State, event: ev.Event) -> None:
        self.state = state
        self.event = event
        super().__init__(f"no transition from {state} on {type(event).__name__}")


E = Effect
S = State

# The event classes the table is keyed by; subclasses (ToolResult, TimerFired, ...) resolve to the
# nearest listed base class.
EVENT_KINDS: tuple[type[ev.Event], ...] = (
    ev.Interrupt,
    ev.UserMessage,
    ev.UserStartedSpeaking,
    ev.Say,
    ev.ModelFailed,
    ev.Notification,
    ev.TextDelta,
    ev.ToolCallDecoded,
    ev.GenerationFinished,
    ev.EmissionFinished,
    ev.GenerateNow,
    ev.ListenTimeout,
)

_CUT = (E.CUT_OUTPUT, E.START_LISTEN_TIMER)

TABLE: dict[tuple[State, type[ev.Event]], Transition] = {
    # --- IDLE ---------------------------------------------------------------------------------
    (S.IDLE, ev.Interrupt): Transition(S.IDLE, (E.DROP,), "nothing is being said"),
    (S.IDLE, ev.UserMessage): Transition(S.IDLE, (E.RECORD_USER, E.REQUEST_GENERATION)),
    (S.IDLE, ev.UserStartedSpeaking): Transition(S.LISTENING, (E.START_LISTEN_TIMER,)),
    (S.IDLE, ev.Say): Transition(S.GENERATING, (E.START_SAYING,)),
    (S.IDLE, ev.ModelFailed): Transition(S.IDLE, (E.DROP,), "no generation in flight"),
    (S.IDLE, ev.Notification): Transition(S.IDLE, (E.RECORD_NOTIFICATION, E.REQUEST_GENERATION)),
    (S.IDLE, ev.TextDelta): Transition(S.IDLE, (E.DROP,), "no generation in flight"),
    (S.IDLE, ev.ToolCallDecoded): Transition(S.IDLE, (E.DROP,), "no generation in flight"),
    (S.IDLE, ev.GenerationFinished): Transition(S.IDLE, (E.DROP,), "no generation in flight"),
    (S.IDLE, ev.EmissionFinished): Transition(S.IDLE, (E.DROP,), "no generation in flight"),
    (S.IDLE, ev.GenerateNow): Transition(S.GENERATING, (E.START_GENERATION,)),
    (S.IDLE, ev.ListenTimeout): Transition(S.IDLE, (E.DROP,), "not listening"),
    # --- LISTENING ----------------------------------------------------------------------------
    (S.LISTENING, ev.Interrupt): Transition(S.LISTENING, (E.DROP,), "already listening"),
    (S.LISTENING, ev.UserMessage): Transition(
        S.IDLE, (E.RECORD_USER, E.REQUEST_GENERATION, E.RELEASE_DEFERRED), "the user's turn is complete"
    ),
    (S.LISTENING, ev.UserStartedSpeaking): Transition(S.LISTENING, (E.START_LISTEN_TIMER,)),
    (S.LISTENING, ev.Say): Transition(S.LISTENING, (E.DEFER,), "do not talk over the user"),
    (S.LISTENING, ev.ModelFailed): Transition(S.LISTENING, (E.DROP,), "no generation in flight"),
    (S.LISTENING, ev.Notification): Transition(S.LISTENING, (E.DEFER,), "do not talk over the user"),
    (S.LISTENING, ev.TextDelta): Transition(S.LISTENING, (E.DROP,), "no generation in flight"),
    (S.LISTENING, ev.ToolCallDecoded): Transition(
        S.LISTENING, (E.DROP,), "no generation in flight: it was cut off"
    ),
    (S.LISTENING, ev.GenerationFinished): Transition(S.LISTENING, (E.DROP,), "no generation in flight"),
    (S.LISTENING, ev.EmissionFinished): Transition(S.LISTENING, (E.DROP,), "no generation in flight"),
    (S.LISTENING, ev.GenerateNow): Transition(S.LISTENING, (E.DEFER,), "answer once the user is done"),
    (S.LISTENING, ev.ListenTimeout): Transition(S.IDLE, (E.RELEASE_DEFERRED,), "the user stayed silent"),
    # --- GENERATING ---------------------------------------------------------------------------
    (S.GENERATING, ev.Interrupt): Transition(S.LISTENING, _CUT),
    (S.GENERATING, ev.UserMessage): Transition(
        S.GENERATING, (E.DEFER,), "queued: answered next (send with interrupt=True to cut in)"
    ),
    (S.GENERATING, ev.UserStartedSpeaking): Transition(S.LISTENING, _CUT, "barge-in"),
    (S.GENERATING, ev.Say): Transition(S.GENERATING, (E.DEFER,), "said after this answer"),
    (S.GENERATING, ev.ModelFailed): Transition(S.IDLE, (E.RECORD_MODEL_FAILURE, E.RELEASE_DEFERRED)),
    (S.GENERATING, ev.Notification): Transition(S.GENERATING, (E.DEFER,), "seen by the next generation"),
    (S.GENERATING, ev.TextDelta): Transition(S.GENERATING, (E.EMIT,)),
    (S.GENERATING, ev.ToolCallDecoded): Transition(
        S.GENERATING, (E.LAUNCH_TOOL,), "start it now; the model goes on"
    ),
    (S.GENERATING, ev.GenerationFinished): Transition(S.EMITTING, (E.FINISH_GENERATION,)),
    (S.GENERATING, ev.EmissionFinished): Transition(S.GENERATING, (E.DROP,), "cannot precede the end"),
    (S.GENERATING, ev.GenerateNow): Transition(S.GENERATING, (E.DROP,), "this generation sees it all"),
    (S.GENERATING, ev.ListenTimeout): Transition(S.GENERATING, (E.DROP,), "not listening"),
    # --- EMITTING -----------------------------------------------------------------------------
    (S.EMITTING, ev.Interrupt): Transition(S.LISTENING, _CUT),
    (S.EMITTING, ev.UserMessage): Transition(
        S.EMITTING, (E.DEFER,), "queued: answered next (send with interrupt=True to cut in)"
    ),
    (S.EMITTING, ev.UserStartedSpeaking): Transition(S.LISTENING, _CUT, "barge-in"),
    (S.EMITTING, ev.Say): Transition(S.EMITTING, (E.DEFER,), "said after this answer"),
    (S.EMITTING, ev.ModelFailed): Transition(S.EMITTING, (E.DROP,), "the generation already ended"),
    (S.EMITTING, ev.Notification): Transition(S.EMITTING, (E.DEFER,), "seen by the next generation"),
    (S.EMITTING, ev.TextDelta): Transition(S.EMITTING, (E.DROP,), "the generation already ended"),
    (S.EMITTING, ev.ToolCallDecoded): Transition(S.EMITTING, (E.DROP,), "the generation already ended"),
    (S.EMITTING, ev.GenerationFinished): Transition(S.EMITTING, (E.DROP,), "the generation already ended"),
    (S.EMITTING, ev.EmissionFinished): Transition(S.IDLE, (E.FINISH_EMISSION, E.RELEASE_DEFERRED)),
    (S.EMITTING, ev.GenerateNow): Transition(S.EMITTING, (E.DROP,), "the next idle moment decides"),
    (S.EMITTING, ev.ListenTimeout): Transition(S.EMITTING, (E.DROP,), "not listening"),
}


def kind_of(event: ev.Event) -> type[ev.Event]:
    """The table key for an event: its nearest class listed in :data:`EVENT_KINDS`."""
    for cls in type(event).__mro__:
        if cls in EVENT_KINDS:
            return cls
    raise TypeError(f"{type(event).__name__} is not a dialog event")


def step(state: State, event: ev.Event) -> Transition:
    """The transition for ``event`` in ``state``. Pure; raises InvalidTransition if none."""
    try:
        return TABLE[(state, kind_of(event))]
    except (KeyError, TypeError):
        raise InvalidTransition(state, event) from None


def table_markdown() -> str:
    """The whole table as a markdown table: state, event, next state, effects, why."""
    lines = ["| state | event | next | effects | why |", "|---|---|---|---|---|"]
    for state in State:
        for kind in EVENT_KINDS:
            t = TABLE[(state, kind)]
            effects = "; ".join(e.value for e in t.effects)
            lines.append(f"| {state} | {kind.__name__} | {t.next} | {effects} | {t.why} |")
    return "\n".join(lines)
