"""The ipyagent kernel: the IPython kernel with the agent magics loaded, whose interrupt button
also interrupts the agent."""

from __future__ import annotations

from typing import Any

from ipykernel.ipkernel import IPythonKernel

from .. import __version__


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
        from ..magics import load_ipython_extension

        load_ipython_extension(self.shell)

    async def interrupt_request(self, stream: Any, ident: Any, parent: Any) -> None:
        from ..magics import current_session

        session = current_session(self.shell)
        if session is not None:
            session.interrupt("button")
        await super().interrupt_request(stream, ident, parent)  # type: ignore[no-untyped-call]

    def do_shutdown(self, restart: bool) -> Any:
        from ..magics import current_session

        session = current_session(self.shell)
        if session is not None:
            session.close()
        return super().do_shutdown(restart)  # type: ignore[no-untyped-call]
