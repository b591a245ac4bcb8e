"""The agent magics, for the ipyagent kernel and for any IPython kernel (``%load_ext ipyagent``).

Loading is cheap: the agent, its thread and its ledger file are created on first use.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ..kernel.registry import ShellState, attach, current_session, detach, get_session
from .magics import HELP, AgentMagics

__all__ = [
    "HELP",
    "AgentMagics",
    "current_session",
    "get_session",
    "load_ipython_extension",
    "unload_ipython_extension",
]

log = logging.getLogger(__name__)


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


def load_ipython_extension(shell: Any) -> None:
    state, new = attach(shell)
    if not new:
        return
    shell.register_magics(AgentMagics(shell, state.get))
    from ..kernel import actions
    from .mcp import McpMagics

    shell.register_magics(McpMagics(shell, state.get))
    actions.register(shell, state.get)  # the "Run" / "Don't run" buttons of requests to run code
    shell.input_transformers_cleanup.append(questions_stay_messages)
    shell.events.register("pre_run_cell", state.pre_run_cell)
    shell.events.register("post_run_cell", state.post_run_cell)
    _hear_the_stop_button(shell, state)


def _hear_the_stop_button(shell: Any, state: ShellState) -> None:
    """In a plain IPython kernel the stop button sends SIGINT, which an idle kernel ignores; make
    it interrupt the agent instead. (A running cell still gets its KeyboardInterrupt: the kernel
    swaps in Python's default handler while it runs a cell. The ipyagent kernel does both.)"""
    import signal
    import threading

    kernel = getattr(shell, "kernel", None)
    if kernel is None or not hasattr(kernel, "saved_sigint_handler"):
        return
    from ..kernel.kernel import IpyagentKernel

    if isinstance(kernel, IpyagentKernel):  # it hears the button itself (interrupt_request)
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
    state = detach(shell)
    if state is None:
        return
    shell.events.unregister("pre_run_cell", state.pre_run_cell)
    shell.events.unregister("post_run_cell", state.post_run_cell)
    if questions_stay_messages in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(questions_stay_messages)
    if state.session is not None:
        state.session.close()
