"""A classroom on one machine: JupyterHub (``deploy/jupyterhub_config.py``), one OS account per
student, and one shared llama.cpp model server that every student's agent talks to.

``python -m ipyagent classroom`` starts a demo classroom and prints where to log in.
:class:`Classroom` is the same thing as a context manager, for tests and the load benchmark::

    with Classroom(["ann", "bob"], root=Path("/tmp/class")) as room:
        room.hub.start_servers(room.users)
        ...  # room.hub.url, room.admin_token, room.model_server.queue()

On the way out it stops the hub (which stops the proxy and every student's server and kernel),
waits for the students' processes to end, stops the model server and removes the accounts.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path
from types import TracebackType

from .accounts import Account, AccountError, can_manage_accounts, create_account, processes_of, remove_account
from .hub import Hub, HubError, HubSettings, find_proxy, port_outside_ephemeral, python_for_students
from .model_server import ModelServer, ModelServerError

__all__ = [
    "Account",
    "AccountError",
    "Classroom",
    "Hub",
    "HubError",
    "HubSettings",
    "ModelServer",
    "ModelServerError",
    "can_manage_accounts",
    "find_proxy",
    "missing_programs",
]


def missing_programs() -> str | None:
    """None when a classroom can start here, else what is missing and how to get it."""
    import importlib.util

    reason = can_manage_accounts()
    if reason:
        return reason
    if importlib.util.find_spec("jupyterhub") is None:
        return "JupyterHub is not installed: pip install 'ipyagent[classroom]' (make setup does)"
    if find_proxy() is None:
        return "configurable-http-proxy is not installed: make setup installs it with npm"
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'"
    return None


class Classroom:
    """Accounts, the shared model server and the hub, started together and torn down together."""

    def __init__(
        self,
        users: list[str],
        *,
        root: Path,
        password: str | None = None,
        model_calls: int = 2,
        model_threads: int | None = None,
        model_nice: int = 0,
        model_max_tokens: int | None = None,
        idle_minutes: float = 60,
    ) -> None:
        self.users = users
        self.root = root
        self.admin_token = secrets.token_hex(32)
        self.password = password
        self.accounts: list[Account] = []
        self.model_server = ModelServer(
            port_outside_ephemeral(),
            log=root / "model-server.log",
            threads=model_threads,
            nice=model_nice,
            max_tokens=model_max_tokens,
        )
        self.hub = Hub(
            HubSettings(
                state_dir=root / "hub",
                model=self.model_server.model_string,
                users=users,
                admin_token=self.admin_token,
                password=password,
                model_calls=model_calls,
                idle_minutes=idle_minutes,
            ),
            log=root / "hub.log",
        )

    def start(self) -> None:
        reason = missing_programs()
        if reason:
            raise HubError(reason)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.hub.settings.python = python_for_students(self.root)
            for name in self.users:
                self.accounts.append(create_account(name))
            self.model_server.start()
            self.hub.start()
        except BaseException:
            self.close()
            raise

    def stop_hub(self, timeout: float = 30) -> list[int]:
        """Stop the hub; the ids of any process of it or of a student still alive ``timeout``
        seconds later (a stopped server's kernels take a moment to follow it)."""
        started = set(self.hub.descendants())
        self.hub.stop()
        deadline = time.monotonic() + timeout
        while True:
            left = _alive(started) + processes_of(self.accounts)
            if not left or time.monotonic() > deadline:
                return sorted(set(left))
            time.sleep(0.2)

    def close(self) -> None:
        left = self.stop_hub()
        # Whatever outlived the hub is ours to end: processes of the accounts made for this room.
        for pid in left:
            _kill(pid)
        self.model_server.stop()
        for account in self.accounts:
            remove_account(account)
        self.accounts = []

    def __enter__(self) -> Classroom:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _alive(pids: set[int]) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _kill(pid: int) -> None:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).kill()
