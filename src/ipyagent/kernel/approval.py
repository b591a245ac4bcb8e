"""Code the agent runs in the notebook: the ``run_python`` tool, the user's approval of each run
(``%approve`` / ``%deny``, or ``%agent --allow-code`` for all), and running it like a cell on the
kernel's main thread.

Everything here but :func:`run_code` runs on the agent's thread.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import IpyagentError
from .loop import MainThreadInbox

if TYPE_CHECKING:
    from ..dispatch.tools import Tool

CODE_TOOL = "run_python"
ApprovalStatus = Literal["pending", "approved", "denied", "cancelled"]


class SessionError(IpyagentError):
    """Raised when a magic cannot do what was asked; its message is shown as one line."""


@dataclass(eq=False)
class Approval:
    """A request to run code in the notebook, waiting for the user's answer."""

    id: str
    tool: str
    code: str
    status: ApprovalStatus = "pending"
    answer: asyncio.Future[bool] | None = field(default=None, repr=False)
    note: str = ""  # why the last click on its buttons could not count (shown under it)

    @property
    def digest(self) -> str:
        """A short hash of the code: a button's click carries it, and counts only if it is still
        the code of this request (the code shown is the code that runs)."""
        return hashlib.sha256(self.code.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class CodeApprovals:
    """The requests to run code and their answers, and the ``run_python`` tool that makes them.

    ``place(approval)`` shows a new request in the view of the agent that asked; ``changed()``
    refreshes the views when an answer or a cancellation changes what they show.
    """

    def __init__(
        self,
        main_thread: MainThreadInbox,
        namespace: Callable[[], dict[str, Any]],
        place: Callable[[Approval], None],
        changed: Callable[[], None],
    ) -> None:
        self.allow_code = False
        self.requests: dict[str, Approval] = {}
        self._main_thread = main_thread
        self._namespace = namespace
        self._place = place
        self._changed = changed
        self._ids = itertools.count(1)
        self._asking: set[asyncio.Future[None]] = set()  # resolved when code asks for approval
        # Requests cancelled (by the agent, not the user) since the user last answered one: while
        # there are any, "%approve" without an id might mean one of them, not the pending one.
        self._cancelled_since_answer: list[str] = []

    def pending(self) -> list[Approval]:
        """Requests that wait for the user's %approve or %deny, oldest first."""
        return [a for a in self.requests.values() if a.status == "pending"]

    def asked(self) -> asyncio.Future[None]:
        """A future resolved when the agent next asks to run code (call :meth:`forget` after)."""
        asked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._asking.add(asked)
        return asked

    def forget(self, asked: asyncio.Future[None]) -> None:
        self._asking.discard(asked)

    def answer(self, approval_id: str | None, yes: bool) -> str:
        """The user's %approve (``yes``) or %deny of a request (the only pending one if no id)."""
        pending = self.pending()
        if approval_id is None:
            if len(pending) != 1:
                ids = ", ".join(a.id for a in pending) or "none"
                raise SessionError(f"say which request: pending requests: {ids}")
            approval = pending[0]
            if yes and self._cancelled_since_answer:
                # The request the user read may be gone and this one new: never run code on a
                # guess (refusing it is safe either way).
                gone = ", ".join(self._cancelled_since_answer)
                raise SessionError(
                    f"request {gone} was cancelled and {approval.id} is a new one; "
                    f"read it, then %approve {approval.id}"
                )
        else:
            found = self.requests.get(approval_id)
            if found is None:
                raise SessionError(
                    f"no request {approval_id!r}; pending: {', '.join(a.id for a in pending) or 'none'}"
                )
            approval = found
        if approval.status != "pending":
            raise SessionError(f"request {approval.id} was already {approval.status}")
        approval.status = "approved" if yes else "denied"
        if approval.answer is not None and not approval.answer.done():
            approval.answer.set_result(yes)
        self._cancelled_since_answer.clear()
        self._changed()
        return f"request {approval.id} {approval.status}"

    def tool(self) -> Tool:
        """The ``run_python`` tool: asks for approval (unless code is allowed), then runs."""
        from ..dispatch.tools import Tool

        async def run_python(code: str) -> str:
            approval = await self._approve(CODE_TOOL, code)
            if approval is not None and approval.status != "approved":
                raise PermissionError(f"the user did not allow running this code (request {approval.id})")
            return await self._run_in_notebook(code)

        schema = {
            "type": "object",
            "properties": {"code": {"type": "string", "minLength": 1}},
            "required": ["code"],
            "additionalProperties": False,
        }
        return Tool(
            run_python,
            CODE_TOOL,
            "Run Python code in the user's notebook, where their variables live. The user must "
            "approve each run. Returns what the code printed and the value of its last expression.",
            schema,
        )

    async def ask(self, tool: str, what: str) -> bool:
        """Ask the user, as for code, to allow ``what`` (a call of ``tool``, such as an MCP tool
        whose server requires approval); True once approved, or at once while code is allowed."""
        approval = await self._approve(tool, what)
        return approval is None or approval.status == "approved"

    async def _approve(self, tool: str, code: str) -> Approval | None:
        """Wait for the user's answer to running ``code``; ``None`` when code is allowed."""
        if self.allow_code:
            return None
        approval = Approval(f"r{next(self._ids)}", tool, code)
        approval.answer = asyncio.get_running_loop().create_future()
        self.requests[approval.id] = approval
        for asked in self._asking:  # a cell waiting with %agent --wait hands over to the user
            if not asked.done():
                asked.set_result(None)
        self._place(approval)
        try:
            await approval.answer
        except asyncio.CancelledError:
            approval.status = "cancelled"
            self._cancelled_since_answer.append(approval.id)
            self._changed()
            raise
        return approval

    async def _run_in_notebook(self, code: str) -> str:
        """Run ``code`` in the notebook's namespace, on the kernel's main thread (so it never runs
        at the same time as a cell, and its output is captured, not printed into some cell)."""
        ns = self._namespace()
        if not self._main_thread.available:
            return await asyncio.to_thread(run_code, code, ns)
        return await self._main_thread.run(lambda: run_code(code, ns))


def run_code(code: str, namespace: dict[str, Any]) -> str:
    """Execute ``code`` like a cell: statements, then the value of a final expression.
    Returns what it printed plus that value's repr; exceptions propagate."""
    tree = ast.parse(code, "<agent code>", "exec")
    last: ast.Expression | None = None
    final = tree.body[-1] if tree.body else None
    if isinstance(final, ast.Expr):
        tree.body.pop()
        last = ast.Expression(final.value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        exec(compile(tree, "<agent code>", "exec"), namespace)
        value = eval(compile(last, "<agent code>", "eval"), namespace) if last is not None else None
    text = out.getvalue()
    if value is not None:
        text += repr(value)
    return text if text.strip() else "ran without output"
