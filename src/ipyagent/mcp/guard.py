"""Runs an MCP server so that it dies with the agent that started it, however the agent ends.

Run as a script (``python -I -S guard.py COMMAND ARGS...``; standard library only, so it starts
in milliseconds). The SDK starts it in a process group of its own; it starts the server in that
same group, with stdin and stdout passed straight through (no copying), and waits. When the
agent's process dies — even by SIGKILL, which runs no clean-up — this guard notices (Linux tells
it at once through PR_SET_PDEATHSIG; elsewhere it polls its parent's pid) and kills its whole
group, so the server and anything the server started go too. A normal stop (the SDK closes
stdin, then signals the group) reaches the server directly; once the server has exited, the
guard ends whatever the server left running in its group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

# Exit status when the server's command cannot be started (as a shell reports it).
NOT_FOUND = 127
POLL_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(POLL_SECONDS)
        _kill_group()

    threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the guard was armed
        _kill_group()


def _kill_group(*_: object) -> None:
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("guard: no command given\n")
        return 2
    _die_with_parent(int(os.environ.pop("IPYAGENT_MCP_PARENT", os.getppid())))
    signal.signal(signal.SIGTERM, _kill_group)
    try:
        server = subprocess.Popen(argv)
    except FileNotFoundError:
        sys.stderr.write(f"command not found: {argv[0]}\n")
        return NOT_FOUND
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[0]}: {exc.strerror or exc}\n")
        return NOT_FOUND
    while True:
        try:
            status = server.wait()
            break
        except KeyboardInterrupt:  # SIGINT reaches the whole group; the server decides
            continue
    # The server is gone; what it started (a worker, a child of `npx`) goes with it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGTERM)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
