"""The buttons of the cell views, on the kernel side: "Run" / "Don't run" under a request to run
code. The ipyagent JupyterLab extension sends a click over the comm ``ipyagent.actions``; this
module answers it with one line the extension shows beside the buttons.

A click counts like a typed ``%approve ID`` only while the request waits, and only for the code
the button was shown with (its digest): a click on a request that was cancelled, answered, or
whose code is not the code shown runs nothing and says why (the line is also kept under the
request, where the user looks).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import IpyagentError, one_line

if TYPE_CHECKING:
    from .session import NotebookSession

log = logging.getLogger(__name__)
TARGET = "ipyagent.actions"
_REQUEST = re.compile(r"^r[0-9]{1,9}$")
_DIGEST = re.compile(r"^[0-9a-f]{16}$")


class Reply(TypedDict):
    seq: int
    ok: bool
    text: str


def register(shell: Any, session: Any) -> bool:
    """Answer the extension's comm ``ipyagent.actions`` in this kernel; ``session()`` gives the
    notebook's session. False where the shell has no comm manager (terminal IPython)."""
    kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        return False

    def opened(comm: Any, _msg: Any) -> None:
        serve = getattr(kernel, "serve_off_main", None)
        if serve is not None:  # a click is answered while a cell blocks, like the widgets
            serve(comm)

        def received(msg: Any) -> None:
            data = msg.get("content", {}).get("data", {}) if isinstance(msg, dict) else {}
            comm.send(dict(handle(session(), data)))

        comm.on_msg(received)

    manager.register_target(TARGET, opened)
    return True


def handle(session: NotebookSession, data: Any) -> Reply:
    """One click: ``{"action": "answer", "request": "r1", "yes": true, "digest": "...", "seq": 3}``."""
    seq = data.get("seq") if isinstance(data, dict) else None
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
    try:
        if not isinstance(data, dict) or data.get("action") != "answer":
            raise IpyagentError("unknown action; the only one is answering a request to run code")
        request, yes, digest = data.get("request"), data.get("yes"), data.get("digest")
        if not (isinstance(request, str) and _REQUEST.match(request)):
            raise IpyagentError("the click named no request")
        if not isinstance(yes, bool) or not (isinstance(digest, str) and _DIGEST.match(digest)):
            raise IpyagentError(f"the click on request {request} was malformed; nothing ran")
        return {"seq": seq, "ok": True, "text": answer_click(session, request, yes, digest)}
    except IpyagentError as exc:
        return {"seq": seq, "ok": False, "text": one_line(str(exc))}
    except Exception as exc:  # a bug here must never take the kernel down
        log.exception("ipyagent: a button click failed")
        return {"seq": seq, "ok": False, "text": one_line(f"internal error: {type(exc).__name__}: {exc}")}


def answer_click(session: NotebookSession, request: str, yes: bool, digest: str) -> str:
    """Answer ``request`` as the user clicked, if that click can still count; else say why not."""
    verb = "Run" if yes else "Don't run"

    def check() -> str | None:
        approval = session.code.requests.get(request)
        if approval is None:
            return f"there is no request {request} in this kernel (was it restarted?); nothing ran"
        why: str | None = None
        if approval.digest != digest:
            why = f"request {request} asks for other code than the code shown; nothing ran"
        elif approval.status == "cancelled":
            why = (
                f'"{verb}" came after request {request} was cancelled (the agent stopped waiting); '
                "nothing ran — ask the agent again if you still want it"
            )
        elif approval.status != "pending":
            why = f"request {request} was already {approval.status}; this click changed nothing"
        if why is not None:
            approval.note = why
            session.views.all_changed()
        return why

    refused = session.loop.call(check)
    if refused is not None:
        raise IpyagentError(refused)
    # Between the check and here the request may be cancelled: answer() decides on the agent's
    # loop, and refuses what is no longer pending.
    return session.answer(request, yes)
