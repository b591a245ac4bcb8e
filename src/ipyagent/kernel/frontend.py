"""Sending display outputs to the notebook from any thread.

A live view is a ``display_data`` message with a display id, sent while its cell runs, followed by
``update_display_data`` messages with the same id, sent from the agent thread whenever something
changes — also after the cell has finished and while other cells run.

Which parent header an update carries matters to headless clients: nbclient only reads messages
whose parent is the cell it is executing, and applies an update by display id to whichever cell
holds that id. So an update carries the header of the most recent execute request (recorded on
the main thread when each cell starts); JupyterLab routes updates by display id either way.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

log = logging.getLogger(__name__)

MimeBundle = dict[str, Any]


class Publisher(Protocol):
    """Where live views send their outputs. Safe to call from any thread."""

    def display(self, display_id: str, bundle: MimeBundle) -> None:
        """Show ``bundle`` in the current cell, as the output with id ``display_id``."""
        ...

    def update(self, display_id: str, bundle: MimeBundle) -> None:
        """Replace the output with id ``display_id``, wherever it is."""
        ...


class KernelPublisher:
    """Publishes on the kernel's IOPub socket (thread-safe in ipykernel) with an explicit parent."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self._lock = threading.Lock()
        self._parent: dict[str, Any] = dict(kernel.get_parent("shell") or {})

    def cell_started(self) -> None:
        """Call on the main thread when a cell starts: later updates carry its header."""
        parent = self.kernel.get_parent("shell")
        if parent:
            with self._lock:
                self._parent = dict(parent)

    @property
    def parent(self) -> dict[str, Any]:
        with self._lock:
            return self._parent

    def _send(self, msg_type: str, display_id: str, bundle: MimeBundle, parent: dict[str, Any]) -> None:
        content = {"data": bundle, "metadata": {}, "transient": {"display_id": display_id}}
        try:
            self.kernel.session.send(
                self.kernel.iopub_socket, msg_type, content, parent=parent, ident=b"display_data"
            )
        except Exception:  # a closed socket at shutdown must not take the agent down
            log.debug("ipyagent: could not send %s", msg_type, exc_info=True)

    def display(self, display_id: str, bundle: MimeBundle) -> None:
        # The first display belongs to the cell that is running now, on the main thread.
        parent = self.kernel.get_parent("shell") or self.parent
        self._send("display_data", display_id, bundle, parent)

    def update(self, display_id: str, bundle: MimeBundle) -> None:
        self._send("update_display_data", display_id, bundle, self.parent)


class IPythonPublisher:
    """For shells without a kernel (terminal IPython, tests): IPython's own display machinery."""

    def cell_started(self) -> None:
        pass

    def display(self, display_id: str, bundle: MimeBundle) -> None:
        from IPython.display import display

        display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]

    def update(self, display_id: str, bundle: MimeBundle) -> None:
        from IPython.display import update_display

        update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]


def publisher_for(shell: Any) -> KernelPublisher | IPythonPublisher:
    kernel = getattr(shell, "kernel", None)
    if kernel is not None and hasattr(kernel, "iopub_socket") and hasattr(kernel, "get_parent"):
        return KernelPublisher(kernel)
    return IPythonPublisher()
