"""Live cell views: the output area of an agent cell, kept up to date from the agent thread.

A view is shown once, in its cell (``open``, main thread), then re-rendered and re-sent under the
same display id whenever the agent tells it something changed (``changed``, agent thread).
Updates are coalesced by a :class:`~ipyagent.throttle.Throttle`: at most one every ``interval``
seconds, so a stream of tokens does not flood IOPub. Its timer is injected (the session's runs on
the agent's loop and clock; tests pass a virtual one).

The session keeps each view's data (``start``/``end``/``live``/``approvals``/``model_status``) up
to date and calls ``changed``; how a view shows itself is ``open``/``flush``. A widget takes over
by subclassing :class:`ExchangeView` / :class:`SubAgentView` and setting the session's
``exchange_view`` / ``subagent_view`` to its classes.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .. import bridge
from ..clock import format_duration
from ..ledger.entry import Entry
from ..ledger.text import notes_of, qualified_task_id
from ..markdown import to_html
from ..throttle import Throttle, Timer
from .approval import Approval

if TYPE_CHECKING:
    from ..agents import Agent
    from ..agents.subagents import SubAgentHow
    from .frontend import MimeBundle, Publisher


class LiveView(Protocol):
    """What the session needs from a view of one exchange or one sub-agent."""

    display_id: str

    def open(self) -> None:
        """Show the view in the cell that is running now (main thread)."""
        ...

    def changed(self) -> None:
        """Something the view shows may have changed (agent thread); refresh soon."""
        ...


class DisplayView:
    """A view rendered to a MIME bundle and sent through a :class:`Publisher`."""

    interval = 0.1

    def __init__(self, publisher: Publisher, loop: asyncio.AbstractEventLoop, timer: Timer) -> None:
        self.display_id = f"ipyagent-{uuid.uuid4().hex[:12]}"
        self.publisher = publisher
        self.loop = loop
        self._opened = False
        self._throttle = Throttle(self.flush, self.interval, timer)

    def render(self) -> MimeBundle:
        raise NotImplementedError

    def open(self) -> None:
        self.publisher.display(self.display_id, self.render())
        self._opened = True
        # Whatever changed between rendering and now is picked up by one more refresh; the
        # display itself counts as a flush, so that refresh waits its interval.
        self._throttle.mark_flushed()
        bridge.call_soon(self.loop, self.changed)

    def changed(self) -> None:
        if self._opened:
            self._throttle.poke()

    def flush(self) -> None:
        self.publisher.update(self.display_id, self.render())

    def flush_if_pending(self) -> None:
        """Send a pending refresh now (before a waiting cell ends, so headless clients see it)."""
        self._throttle.flush_pending()


# --- rendering entries ----------------------------------------------------------------------

_COLOURS = {
    "assistant": "inherit",
    "user": "#1565c0",
    "tool": "#6a1b9a",
    "notification": "#2e7d32",
    "warning": "#c62828",
    "interruption": "#ef6c00",
    "muted": "#757575",
}


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a view: its role (for colour), its text, and (for answers and requests) how
    it shows in HTML when not as escaped text: answers as Markdown, requests with buttons."""

    role: str
    text: str
    html: str | None = None


def answer_line(text: str) -> Line:
    """An answer of the agent: its text, shown as Markdown."""
    return Line("assistant", text, to_html(text))


def _args(entry: Entry) -> str:
    if entry.arguments is None:
        return entry.text
    return ", ".join(f"{k}={v!r}" for k, v in entry.arguments.items())


def task_status(agent: Agent, task_id: str | None) -> str:
    task = agent.task(task_id) if task_id else None
    if task is None:
        return ""
    now = agent.clock.now()
    label = qualified_task_id(agent.path, task.task_id)
    if task.running:
        status = f"{label} running {format_duration(task.elapsed(now))}"
        if task.progress is not None:
            status += f" · {task.progress.text} ({format_duration(now - task.progress.time)} ago)"
        return status
    return f"{label} {task.status} after {format_duration(task.elapsed(now))}"


def result_age(entry: Entry) -> str:
    """`` · finished 12 s before it was recorded`` for a result that waited while the agent was
    busy; empty when it was recorded within a second."""
    if entry.finished is None or entry.time - entry.finished < 1:
        return ""
    return f" · finished {format_duration(entry.time - entry.finished)} before it was recorded"


def entry_lines(
    agent: Agent, entries: Iterable[Entry], approvals: list[Approval] | None = None
) -> list[Line]:
    """How entries read in a cell: answers as text, a tool call with its task's live status (and
    the approval it asked for, taken out of ``approvals``), notifications, interruptions."""
    lines: list[Line] = []
    calls: dict[str | None, int] = {}
    call_entries: dict[str | None, Entry] = {}
    asking = approvals if approvals is not None else []
    for entry in entries:
        match entry.kind:
            case "system":
                continue
            case "user":
                lines.append(Line("user", f"you ({entry.source}): {entry.text}"))
            case "assistant":
                if entry.text.strip():
                    lines.append(answer_line(entry.text))
                notes = notes_of(entry)
                if notes:  # what the backend decided for the model
                    lines.append(Line("notification", "ⓘ " + "; ".join(notes)))
                if entry.status == "incomplete":  # "interrupted" is followed by its marker
                    lines.append(Line("interruption", "[incomplete]"))
            case "tool_call":
                calls[entry.call_id] = len(lines)
                call_entries[entry.call_id] = entry
                lines.append(Line("tool", f"⚙ {entry.name}({_args(entry)})"))
            case "tool_result":
                rejected = entry.status == "rejected"
                status = entry.text if rejected else task_status(agent, entry.task_id)
                role = "warning" if rejected else "tool"
                at = calls.get(entry.call_id)
                if at is None:
                    lines.append(Line(role, f"⚙ {entry.name} · {status}"))
                else:  # one line per call: what was asked, then how it is going
                    lines[at] = Line(role, f"{lines[at].text} · {status}")
                call = call_entries.get(entry.call_id)
                code = (call.arguments or {}).get("code") if call is not None else None
                for approval in asking:
                    if approval.tool == entry.name and approval.code == code:
                        asking.remove(approval)  # shown here, under the call that asked
                        lines += approval_lines([approval])
                        break
            case "notification":
                task = qualified_task_id(agent.path, entry.task_id) if entry.task_id else None
                who = " ".join(x for x in (task, entry.name) if x)
                role = (
                    "warning"
                    if entry.source in ("model_error", "tool_error", "tool_timeout")
                    else "notification"
                )
                lines.append(Line(role, f"✉ {who + ': ' if who else ''}{entry.text}{result_age(entry)}"))
            case "interruption":
                lines.append(Line("interruption", f"■ {interruption_text(entry.text)}"))
            case "subagent":
                task = qualified_task_id(agent.path, entry.task_id) if entry.task_id else "-"
                lines.append(Line("tool", f"↳ {entry.status} {entry.name!r} ({task}): {entry.text}"))
    return lines


def _row(line: Line) -> str:
    colour = _COLOURS.get(line.role, "inherit")
    if line.html is None:
        return f'<div style="color:{colour};white-space:pre-wrap">{html.escape(line.text)}</div>'
    if line.role == "assistant":  # prose in the notebook's reading font; code keeps its own
        return (
            f'<div class="ipyagent-md" style="color:{colour};font-family:var(--jp-content-font-family,'
            f'system-ui,sans-serif);font-size:var(--jp-content-font-size1,14px);line-height:1.5">'
            f"{line.html}</div>"
        )
    return line.html


def bundle(lines: list[Line], footer: str) -> MimeBundle:
    plain = "\n".join([line.text for line in lines] + ([footer] if footer else []))
    rows = "".join(_row(line) for line in lines)
    foot = (
        f'<div style="color:{_COLOURS["muted"]};font-size:85%;margin-top:2px">{html.escape(footer)}</div>'
        if footer
        else ""
    )
    return {
        "text/plain": plain,
        "text/html": f'<div class="ipyagent-view" style="font-family:var(--jp-code-font-family,monospace);'
        f'font-size:var(--jp-code-font-size,13px)">{rows}{foot}</div>',
    }


# Characters that change how code looks without showing themselves (bidirectional overrides,
# zero-width characters): code shown for approval must read as it runs.
_INVISIBLE = re.compile("[\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def visible(code: str) -> str:
    """``code`` with every invisible or direction-changing character written as ``\\uXXXX``."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", code)


_OUTCOME = {
    "approved": "you approved it; it ran (or is running)",
    "denied": "you refused it; nothing ran",
    "cancelled": "cancelled: the agent stopped waiting for an answer (interrupted or cancelled); nothing ran",
}


def approval_lines(approvals: Iterable[Approval]) -> list[Line]:
    """A request to run code: the exact code, then how to answer it (buttons "Run" / "Don't run"
    where the JupyterLab extension is there, ``%approve``/``%deny`` everywhere). A cancelled
    request keeps its buttons, greyed: a late click is answered with why nothing runs."""
    lines = []
    for a in approvals:
        if a.status == "pending":
            head = f"⚠ the agent asks to run this in your notebook (request {a.id}):"
            how = (
                f"  run %approve {a.id} to run it, %deny {a.id} to refuse, "
                "or %agent --allow-code to allow code from now on"
            )
            text = f"{head}\n{visible(a.code)}\n{how}"
        else:
            text = f"request {a.id} ({a.tool}): {_OUTCOME.get(a.status, a.status)}"
            if a.note:
                text += f"\n  {a.note}"
        lines.append(Line("warning" if a.status == "pending" else "muted", text, approval_html(a)))
    return lines


_BUTTON = "display:none;padding:2px 12px;border-radius:3px;border:1px solid;font:inherit;cursor:pointer"


def approval_html(a: Approval) -> str:
    """The request as a box with its code and, while it can matter, its two buttons."""
    pending = a.status == "pending"
    buttons = ""
    if a.status in ("pending", "cancelled"):
        stale = "" if pending else ";opacity:0.45"
        buttons = (
            f'<button type="button" data-ipyagent-action="approve" style="{_BUTTON};background:#1a7f37;'
            f'color:#fff;border-color:#1a7f37{stale}">Run</button> '
            f'<button type="button" data-ipyagent-action="deny" style="{_BUTTON};background:transparent;'
            f'color:inherit;border-color:#8c959f{stale}">Don&#x27;t run</button> '
        )
    if pending:
        head = f"⚠ the agent asks to run this in your notebook (request {a.id}):"
        how = f"or type %approve {a.id} / %deny {a.id}; %agent --allow-code allows code from now on"
        code = (
            f'<pre class="ipyagent-approval-code" style="margin:3px 0;padding:4px 8px;'
            f"background:var(--jp-cell-editor-background,#f6f8fa);border:1px solid var(--jp-border-color2,"
            f'#ddd);white-space:pre-wrap;color:var(--jp-content-font-color1,#222)">{html.escape(visible(a.code))}</pre>'
        )
    else:
        head = f"request {a.id} ({a.tool}): {_OUTCOME.get(a.status, a.status)}"
        how, code = "", ""
    note = (
        f'<div class="ipyagent-approval-note" style="color:{_COLOURS["warning"]}">{html.escape(a.note)}</div>'
        if a.note
        else ""
    )
    colour = _COLOURS["warning"] if pending else _COLOURS["muted"]
    return (
        f'<div class="ipyagent-approval" data-request="{html.escape(a.id)}" data-digest="{a.digest}" '
        f'data-status="{a.status}" style="border-left:3px solid {colour};padding:2px 8px;margin:4px 0">'
        f'<div style="color:{colour}">{html.escape(head)}</div>{code}'
        f'<div class="ipyagent-approval-actions" style="color:{_COLOURS["muted"]}">{buttons}'
        f"{html.escape(how)}</div>{note}</div>"
    )


def _running_tasks(agent: Agent) -> str:
    running = agent.running_tasks()
    if not running:
        return ""
    now = agent.clock.now()
    return " · " + ", ".join(
        f"{qualified_task_id(agent.path, t.task_id)} {t.name} {format_duration(t.elapsed(now))}"
        for t in running
    )


def interruption_text(reason: str) -> str:
    """The interruption marker as a user reads it: "interrupted by %interrupt", not
    "interrupted: interrupted by %interrupt"."""
    reason = reason.strip()
    if reason.lower().startswith("interrupted"):
        return reason
    return f"interrupted: {reason}" if reason else "interrupted"


def status_line(agent: Agent, model_status: str) -> str:
    """``generating · loading the model (98 MB)…``: the state, then the model's own note."""
    note = model_status.strip()
    # A note is the model's own words; written as a second clause, never nested in brackets.
    return f"{agent.state} · {note}" if note and agent.state == "generating" else str(agent.state)


# --- the two views --------------------------------------------------------------------------

_exchange_numbers = itertools.count(1)


class ExchangeView(DisplayView):
    """One user message sent from a cell and everything that followed it, until the next
    cell message takes over."""

    def __init__(
        self,
        publisher: Publisher,
        loop: asyncio.AbstractEventLoop,
        timer: Timer,
        message: str,
        agent: Callable[[], Agent | None],
    ) -> None:
        super().__init__(publisher, loop, timer)
        self.message = message
        self._agent = agent
        self.start: int | None = None  # ledger index of this exchange's user entry
        self.end: int | None = None  # first index that belongs to the next exchange
        self.live: dict[int, str] = {}  # generation -> delivered text not yet in the ledger
        self.approvals: list[Approval] = []
        self.error: str | None = None
        self.model_status = ""  # the model's latest progress note (loading...), until it answers

    def render(self) -> MimeBundle:
        agent = self._agent()
        lines: list[Line] = []
        footer = ""
        if self.error is not None:
            return bundle([Line("warning", self.error)], "")
        if agent is None or self.start is None:
            busy = agent is not None and agent.state != "idle"
            return bundle([], "queued: the agent answers this after its current turn" if busy else "sent")
        entries = agent.ledger[self.start + 1 : self.end if self.end is not None else len(agent.ledger)]
        unplaced = list(self.approvals)
        lines = entry_lines(agent, entries, unplaced)
        # A snapshot: the agent's thread adds text to `live` while a cell's thread renders.
        lines += [answer_line(text) for text in list(self.live.values()) if text.strip()]
        lines += approval_lines(unplaced)
        if self.end is not None:
            footer = "(continued in a later cell)"
        else:
            footer = f"{agent.name}: {status_line(agent, self.model_status)}{_running_tasks(agent)}"
        return bundle(lines, footer)


class SubAgentView(DisplayView):
    """A sub-agent's whole life, in the cell that started it."""

    def __init__(
        self,
        publisher: Publisher,
        loop: asyncio.AbstractEventLoop,
        timer: Timer,
        how: SubAgentHow,
        name: str,
        task: str,
    ) -> None:
        super().__init__(publisher, loop, timer)
        self.how, self.name, self.task = how, name, task
        self.agent: Agent | None = None
        self.live: dict[int, str] = {}
        self.approvals: list[Approval] = []
        self.model_status = ""

    def render(self) -> MimeBundle:
        child = self.agent
        head = Line("muted", f"↳ {self.how} {self.name!r}: {self.task}")
        if child is None:
            return bundle([head], "starting")
        own = [e for e in child.ledger.own if not (e.kind == "user" and e.source == "task")]
        unplaced = list(self.approvals)
        lines = [head, *entry_lines(child, own, unplaced)]
        # A snapshot: the agent's thread adds text to `live` while a cell's thread renders.
        lines += [answer_line(text) for text in list(self.live.values()) if text.strip()]
        lines += approval_lines(unplaced)
        if child.status == "running":
            footer = f"{child.path}: {status_line(child, self.model_status)}{_running_tasks(child)}"
        elif child.status == "failed":
            footer = f"{child.path}: failed: {child.failure}"
        elif child.status == "cancelled":
            footer = f"{child.path}: cancelled ({child.failure})"
        else:
            parent = child.parent.name if child.parent else "-"
            footer = f"{child.path}: {child.status}; its answer went to {parent}"
        return bundle(lines, footer)
