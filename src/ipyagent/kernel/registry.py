"""The per-shell registry: which agent session belongs to an IPython shell.

Each shell with ipyagent loaded (the ipyagent kernel, or any IPython kernel after
``%load_ext ipyagent``) holds one :class:`ShellState`: its publisher (made at once, so every
cell's header is known) and its :class:`~ipyagent.kernel.session.NotebookSession` (made on first
use). The kernel and the magics both find the session here.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import NotebookSession

__all__ = ["ShellState", "attach", "current_session", "detach", "get_session", "state_of", "warm_up"]

_ATTR = "_ipyagent_state"
log = logging.getLogger(__name__)


class ShellState:
    """What ipyagent keeps on a shell: its publisher and, once used, its session."""

    def __init__(self, shell: Any) -> None:
        from .frontend import publisher_for

        self.shell = shell
        self.publisher = publisher_for(shell)
        self.session: NotebookSession | None = None
        self._warming = False

    def get(self) -> NotebookSession:
        """The shell's session, created on first use."""
        if self.session is None:
            from .session import NotebookSession

            self.session = NotebookSession(self.shell, self.publisher)
            self.session.sync_tools()
        return self.session

    def pre_run_cell(self, *_: Any) -> None:
        self.publisher.cell_started()

    def post_run_cell(self, *_: Any) -> None:
        if self.session is not None:
            try:
                self.session.sync_tools()
            except Exception:  # a hook must never put a traceback under the user's cell
                log.exception("ipyagent: could not update the notebook's tools")
        elif not self._warming:
            self._warming = True
            warm_up()


def warm_up() -> None:
    """Import the agent's modules in the background once the first cell has run, so the first
    %agent does not wait for them (they take seconds on a busy machine); the kernel's own start
    stays as fast as the IPython kernel's."""

    def load() -> None:
        import importlib

        for name in ("ipyagent.agents", "ipyagent.kernel.session"):
            importlib.import_module(name)

    threading.Thread(target=load, name="ipyagent warm-up", daemon=True).start()


def state_of(shell: Any) -> ShellState | None:
    """The shell's state, if ipyagent is loaded into it."""
    state: ShellState | None = getattr(shell, _ATTR, None)
    return state


def attach(shell: Any) -> tuple[ShellState, bool]:
    """The shell's state, made and registered if there is none; and whether it is new."""
    state = state_of(shell)
    if state is not None:
        return state, False
    state = ShellState(shell)
    setattr(shell, _ATTR, state)
    return state, True


def detach(shell: Any) -> ShellState | None:
    """Forget the shell's state (the caller closes its session); the state, if there was one."""
    state = state_of(shell)
    if state is not None:
        delattr(shell, _ATTR)
    return state


def get_session(shell: Any) -> NotebookSession | None:
    """The shell's agent session, if ipyagent is loaded (created on first use)."""
    state = state_of(shell)
    return state.get() if state is not None else None


def current_session(shell: Any) -> NotebookSession | None:
    """The shell's agent session if one was created already (never creates one)."""
    state = state_of(shell)
    return state.session if state is not None else None
