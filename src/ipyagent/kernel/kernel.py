"""The ipyagent kernel: the IPython kernel with the agent magics loaded, whose interrupt button
also interrupts the agent."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from ipykernel.ipkernel import IPythonKernel

from .. import __version__
from .collector import CollectionPolicy

log = logging.getLogger(__name__)

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The
# agent's thread can be busy for long stretches (a hundred sub-agents, thousands of tools); every
# kernel message passes the GIL between the kernel's threads several times, and each hand-over
# can wait this long, so at the default a loaded agent delays each reply by 20-40 ms.
SWITCH_INTERVAL = 0.001


class IpyagentKernel(IPythonKernel):
    """Python exactly as in the IPython kernel, plus the agent magics.

    The kernelspec asks for ``interrupt_mode: message``, so the interrupt button arrives here as
    an ``interrupt_request``: the agents get an interruption (source ``button``), and a cell that
    is running gets the usual KeyboardInterrupt. An idle kernel ignores the signal, so no
    unrelated cell ever sees a traceback.
    """

    implementation = "ipyagent"
    implementation_version = __version__
    banner = "ipyagent: Python with an asynchronous agent. Type %agent --help for the magics."

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        # No full collections while the agents are busy: see collector.py.
        self.collection_policy = CollectionPolicy()
        # Invariant: every message the shell channel routes to this subshell is a comm message
        # of an agent widget (nobody else knows its id).
        self._widget_subshell: str | None = None
        self._widget_subshell_lock = threading.Lock()
        # The magics, through IPython's extension door (``%load_ext ipyagent`` does the same).
        assert self.shell is not None  # made by IPythonKernel.__init__
        self.shell.extension_manager.load_extension("ipyagent")

    def serve_off_main(self, comm: Any) -> bool:
        """Handle the browser's messages to ``comm`` on a kernel thread of their own, so a chat
        message or a cancel button is answered while a cell blocks the main thread. False when
        this ipykernel has no subshells (its messages then wait for the running cell).

        The shell channel thread asks each comm where its messages go (``_reply_subshell_for``,
        the hook ipykernel uses to send a widget's replies back to the subshell that is waiting
        for them); this comm answers: to the agent widgets' subshell. Other comms are untouched.
        """
        if not hasattr(comm, "_reply_subshell_for"):
            return False
        subshell = self._widget_subshell_id()
        if subshell is None:
            return False
        comm._reply_subshell_for = lambda _data, _default: subshell
        return True

    def _widget_subshell_id(self) -> str | None:
        with self._widget_subshell_lock:
            if self._widget_subshell is None and self._supports_kernel_subshells:
                self._widget_subshell = self._start_widget_subshell()
            return self._widget_subshell

    def _start_widget_subshell(self) -> str | None:
        thread = self.shell_channel_thread
        manager = getattr(thread, "manager", None)
        create = getattr(manager, "_create_subshell", None)
        if create is None:
            return None
        # Subshells are made on the shell channel thread (it owns their sockets); that thread
        # never runs user code, so this answers at once even while a cell runs.
        made: list[str] = []
        done = threading.Event()

        def on_channel_thread() -> None:
            try:
                made.append(create())
            except Exception:
                log.exception("ipyagent: could not start the widgets' subshell")
            finally:
                done.set()

        thread.io_loop.add_callback(on_channel_thread)
        if not done.wait(10) or not made:
            return None
        return made[0]

    async def dispatch_shell(
        self, msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False
    ) -> None:
        # A widget message is answered alongside the running cell: no busy/idle status (the
        # frontend would show the kernel idle while the cell still runs) and no SIGINT handler
        # swap (only the main thread may do that), as ipykernel does for comms during async cells.
        if subshell_id is not None and subshell_id == self._widget_subshell:
            concurrent = True
        await super().dispatch_shell(msg, subshell_id=subshell_id, concurrent=concurrent)

    async def interrupt_request(self, stream: Any, ident: Any, parent: Any) -> None:
        from .registry import current_session

        session = current_session(self.shell)
        if session is not None:
            session.interrupt("button")
        await super().interrupt_request(stream, ident, parent)  # type: ignore[no-untyped-call]

    def do_shutdown(self, restart: bool) -> Any:
        from .registry import current_session

        session = current_session(self.shell)
        if session is not None:
            session.close()
        return super().do_shutdown(restart)  # type: ignore[no-untyped-call]
