"""Stopping the processes ipyagent starts: a polite one ends on SIGTERM, a stubborn one is killed
after its grace period, and with ``group=True`` nothing it started is left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from ipyagent import processes

STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)
PARENT = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print(child.pid, flush=True); time.sleep(60)"
)


@contextmanager
def started(code: str, *, new_session: bool = False) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The process and its first line (by then its signal handler is set)."""
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=new_session
    ) as process:
        assert process.stdout is not None
        try:
            yield process, process.stdout.readline().strip()
        finally:
            processes.stop(process, grace=1, group=new_session)


def test_a_polite_process_ends_on_sigterm() -> None:
    with started("import time; print('ready', flush=True); time.sleep(60)") as (process, _):
        begun = time.monotonic()
        processes.stop(process, grace=30)
        assert process.returncode == -signal.SIGTERM
        assert time.monotonic() - begun < 10  # it did not wait out the grace period


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    with started(STUBBORN) as (process, _):
        processes.stop(process, grace=0.5)
        assert process.returncode == -signal.SIGKILL


def test_a_group_leader_is_stopped_with_what_it_started() -> None:
    with started(PARENT, new_session=True) as (process, child_pid):
        child = psutil.Process(int(child_pid))
        processes.stop(process, grace=10, group=True)
        assert process.returncode == -signal.SIGTERM
        child.wait(10)  # ended by the group's SIGTERM, not left running
        assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE
        processes.kill([child.pid])  # gone already: passed over, no error


def test_a_process_that_has_exited_is_only_reaped() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    processes.stop(process, grace=1, group=True)
    assert process.returncode == 0
