"""Ending the processes ipyagent starts (servers, JupyterLab, a classroom's hub): ask, wait, insist.

The one way they are stopped, for the package, its tests and its benchmarks. Imports nothing of
the project.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable
from typing import Any

__all__ = ["kill", "stop"]


def stop(process: subprocess.Popen[Any], grace: float = 15, *, group: bool = False) -> None:
    """End ``process``: SIGTERM, up to ``grace`` seconds to exit, then SIGKILL. With ``group``,
    the signals go to the process group it leads (a server and the kernels it started). One that
    has exited already is only reaped."""

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # it (or its whole group) is gone already
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)

    if process.poll() is None:
        send(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()


def kill(pids: Iterable[int]) -> None:
    """SIGKILL these processes now (ones already gone are passed over)."""
    import psutil

    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
