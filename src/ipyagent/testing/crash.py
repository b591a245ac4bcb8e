"""Killing a process at a chosen moment, for durability tests."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence


def kill_after_lines(argv: Sequence[str], lines: int, *, timeout: float = 30) -> list[str]:
    """Run ``argv``, SIGKILL it once it has printed ``lines`` lines, and return every line it
    printed, those still in the pipe included (each was printed, so what it reports was done).

    Counting printed lines, not time, puts the kill at a repeatable point of the work. Raises
    AssertionError with the end of the process's stderr when it ends before that many lines.
    """
    out: list[str] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            for _ in range(lines):
                line = proc.stdout.readline()
                if not line:
                    raise AssertionError(f"the process ended early: {proc.stderr.read()[-2000:]}")
                out.append(line.rstrip("\n"))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=timeout)
            out += proc.stdout.read().splitlines()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=timeout)
    return out
