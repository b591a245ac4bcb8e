"""The agent magics, for the ipyagent kernel and for any IPython kernel (``%load_ext ipyagent``).

Loading is cheap: the agent, its thread and its ledger file are created on first use.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from .magics import HELP, AgentMagics

if TYPE_CHECKING:
    from ..kernel.session import NotebookSession

__all__ = ["HELP", "AgentMagics", "get_session", "load_ipython_extension", "unload_ipython_extension"]

_ATTR = "_ipyagent_state"
log = logging.getLogger(__name__)


class _State:
    """What the extension keeps on a shell: its publisher (from the start, so every cell's
    header is known) and the session (created on first use)."""

    def __init__(self, shell: Any) -> None:
        from ..kernel.frontend import publisher_for

        self.shell = shell
        self.publisher = publisher_for(shell)
        self.session: NotebookSession | None = None
        self._warming = False

    def get(self) -> NotebookSession:
        if self.session is None:
            from ..kernel.session import NotebookSession

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
    import threading

    def load() -> None:
        import importlib

        for name in ("ipyagent.agents", "ipyagent.kernel.session"):
            importlib.import_module(name)

    threading.Thread(target=load, name="ipyagent warm-up", daemon=True).start()


_AGENT_LINE = re.compile(r"^(\s*)%agent(\s.*?)?\s*$")


def questions_stay_messages(lines: list[str]) -> list[str]:
    """IPython reads a line ending in ``?`` as a help request (``%agent Is it sunny?`` would look
    up ``sunny``). Turn such ``%agent`` lines into the magic call before that happens."""
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        match = _AGENT_LINE.match(line)
        if match and line.rstrip().endswith("?"):
            indent, args = match.group(1), (match.group(2) or "").strip()
            line = f"{indent}get_ipython().run_line_magic('agent', {args!r})\n"
        out.append(line)
    return out


def get_session(shell: Any) -> NotebookSession | None:
    """The shell's agent session, if the extension is loaded (created on first use)."""
    state: _State | None = getattr(shell, _ATTR, None)
    return state.get() if state is not None else None


def current_session(shell: Any) -> NotebookSession | None:
    """The shell's agent session if one was created already (never creates one)."""
    state: _State | None = getattr(shell, _ATTR, None)
    return state.session if state is not None else None


def load_ipython_extension(shell: Any) -> None:
    if getattr(shell, _ATTR, None) is not None:
        return
    state = _State(shell)
    setattr(shell, _ATTR, state)
    shell.register_magics(AgentMagics(shell, state.get))
    from ..kernel import actions

    actions.register(shell, state.get)  # the "Run" / "Don't run" buttons of requests to run code
    shell.input_transformers_cleanup.append(questions_stay_messages)
    shell.events.register("pre_run_cell", state.pre_run_cell)
    shell.events.register("post_run_cell", state.post_run_cell)
    _hear_the_stop_button(shell, state)


def _hear_the_stop_button(shell: Any, state: _State) -> None:
    """In a plain IPython kernel the stop button sends SIGINT, which an idle kernel ignores; make
    it interrupt the agent instead. (A running cell still gets its KeyboardInterrupt: the kernel
    swaps in Python's default handler while it runs a cell. The ipyagent kernel does both.)"""
    import signal
    import threading

    kernel = getattr(shell, "kernel", None)
    if (
        kernel is None
        or type(kernel).__name__ == "IpyagentKernel"
        or not hasattr(kernel, "saved_sigint_handler")
    ):
        return
    if threading.current_thread() is not threading.main_thread():
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if state.session is not None:
            state.session.interrupt("button")

    # The kernel restores ``saved_sigint_handler`` after each cell, this one included.
    kernel.saved_sigint_handler = on_sigint
    signal.signal(signal.SIGINT, on_sigint)


def unload_ipython_extension(shell: Any) -> None:
    state: _State | None = getattr(shell, _ATTR, None)
    if state is None:
        return
    shell.events.unregister("pre_run_cell", state.pre_run_cell)
    shell.events.unregister("post_run_cell", state.post_run_cell)
    if questions_stay_messages in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(questions_stay_messages)
    if state.session is not None:
        state.session.close()
    delattr(shell, _ATTR)
