"""A JupyterHub started with ``deploy/jupyterhub_config.py``, and its REST API.

The hub runs as a child process in its own process group, configured through the ``CLASSROOM_*``
environment variables that the config file reads. Its ports are picked outside the range the
students' servers take theirs from.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import processes
from ..errors import IpyagentError

# Linux gives the students' servers random ports from 32768-60999 (ip_local_port_range).
EPHEMERAL = (32768, 60999)
REPO_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "jupyterhub_config.py"


class HubError(IpyagentError):
    """Raised when the hub does not start or its API refuses a request."""


def port_outside_ephemeral(low: int = 20000, high: int = EPHEMERAL[0] - 1) -> int:
    """A free TCP port on 127.0.0.1 that no student's server can be given."""
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise HubError(f"no free port between {low} and {high}")


def find_proxy() -> str | None:
    """configurable-http-proxy: ``CLASSROOM_PROXY``, on PATH, or in ``<env>/node`` (where
    ``make setup`` puts it)."""
    candidates = [
        os.environ.get("CLASSROOM_PROXY"),
        shutil.which("configurable-http-proxy"),
        str(Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def _readable_by_all(path: Path) -> bool:
    """Whether any account can run ``path``: every folder on the way searchable by others, and
    the file itself executable by others."""
    real = path.resolve()
    folders_ok = all(p.stat().st_mode & stat.S_IXOTH for p in real.parents)
    return folders_ok and bool(real.stat().st_mode & stat.S_IXOTH)


def python_for_students(root: Path) -> str:
    """A Python that the students' accounts can run, with this environment's packages.

    Usually this environment's own. When its interpreter lives where other accounts cannot
    reach (a pyenv build under /root), a small virtualenv is made in ``root`` from a system
    Python of the same version, seeing this environment's site-packages; the ipyagent kernelspec
    is installed into it with its interpreter.
    """
    if _readable_by_all(Path(sys.executable)):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next(
        (
            p
            for p in (Path("/usr/bin") / version, Path("/usr/local/bin") / version)
            if p.is_file() and _readable_by_all(p)
        ),
        None,
    )
    if system is None:
        raise HubError(
            f"{sys.executable} cannot be run by other accounts (a folder on its path is private), and "
            f"no system {version} was found; install ipyagent into an environment every account can read"
        )
    env = root / "students-python"
    env.mkdir(parents=True, exist_ok=True)
    if not _readable_by_all(env):
        raise HubError(f"{env} must be reachable by every account (a folder on its path is private)")
    _share_jupyter_files(env)
    if not (env / "bin" / "python").exists():
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(env)], check=True)
        site = next(env.glob("lib/python*/site-packages"))
        ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
        # addsitedir also runs the .pth files there (an editable install's finder among them).
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in ours)
        (site / "ipyagent-environment.pth").write_text(lines)
        python = env / "bin" / "python"
        subprocess.run(
            [str(python), "-m", "ipyagent", "install", "--prefix", str(env)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return str(env / "bin" / "python")


def _share_jupyter_files(env: Path) -> None:
    """Let ``env`` see this environment's Jupyter configuration and data: which server
    extensions are on (JupyterLab itself: without it the students' ``/lab`` is a 404) and
    JupyterLab's application and extensions. Its kernelspecs are not shared: a ``python3`` one
    there would run this environment's Python, which the students cannot run."""
    ours = Path(sys.prefix)
    config = env / "etc" / "jupyter"
    if (ours / "etc" / "jupyter").is_dir() and not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.symlink_to(ours / "etc" / "jupyter", target_is_directory=True)
    data = env / "share" / "jupyter"
    data.mkdir(parents=True, exist_ok=True)
    _link_entries(ours / "share" / "jupyter", data, but=("kernels", "lab"))
    lab = data / "lab"
    lab.mkdir(exist_ok=True)
    _link_entries(ours / "share" / "jupyter" / "lab", lab, but=("settings",))
    # The course's settings for every student: no "get notified about Jupyter news?" question
    # (a classroom network may not reach jupyter.org, and it is not each student's call).
    settings = lab / "settings"
    settings.mkdir(exist_ok=True)
    overrides = settings / "overrides.json"
    if not overrides.exists():
        overrides.write_text(json.dumps(LAB_OVERRIDES, indent=1))


LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}


def _link_entries(source: Path, target: Path, *, but: tuple[str, ...]) -> None:
    for entry in sorted(source.iterdir()) if source.is_dir() else []:
        link = target / entry.name
        if entry.name not in but and not link.exists():
            link.symlink_to(entry, target_is_directory=entry.is_dir())


def find_config() -> Path:
    explicit = os.environ.get("CLASSROOM_CONFIG")
    path = Path(explicit) if explicit else REPO_CONFIG
    if not path.is_file():
        raise HubError(
            f"the hub configuration {path} is missing; set CLASSROOM_CONFIG to deploy/jupyterhub_config.py"
        )
    return path


@dataclass
class HubSettings:
    """What the config file reads from the environment."""

    state_dir: Path
    model: str
    users: list[str]
    admin_token: str
    python: str = sys.executable
    password: str | None = None
    model_calls: int = 2
    idle_minutes: float = 60
    public_port: int = field(default_factory=port_outside_ephemeral)
    hub_port: int = field(default_factory=port_outside_ephemeral)
    proxy_api_port: int = field(default_factory=port_outside_ephemeral)

    def environment(self, proxy: str) -> dict[str, str]:
        values = {
            "CLASSROOM_URL": f"http://127.0.0.1:{self.public_port}",
            "CLASSROOM_HUB_PORT": str(self.hub_port),
            "CLASSROOM_PROXY_API_PORT": str(self.proxy_api_port),
            "CLASSROOM_STATE_DIR": str(self.state_dir),
            "CLASSROOM_PROXY": proxy,
            "CLASSROOM_PYTHON": self.python,
            "CLASSROOM_MODEL": self.model,
            "CLASSROOM_MODEL_CALLS": str(self.model_calls),
            "CLASSROOM_USERS": ",".join(self.users),
            "CLASSROOM_ADMIN_TOKEN": self.admin_token,
            "CLASSROOM_IDLE_MINUTES": str(self.idle_minutes),
        }
        if self.password:
            values["CLASSROOM_SHARED_PASSWORD"] = self.password
        return values


class Hub:
    """``with Hub(settings, log=...) as hub:`` starts the hub and waits until it answers."""

    def __init__(self, settings: HubSettings, *, log: Path, config: Path | None = None) -> None:
        self.settings = settings
        self.log = log
        self.config = config or find_config()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.public_port}"

    def start(self, timeout: float = 180) -> None:
        """Start the hub; wait until it answers (about 2 s on a quiet machine; a machine whose
        cores are busy can take a minute)."""
        proxy = find_proxy()
        if proxy is None:
            raise HubError(
                "configurable-http-proxy is not installed; run 'make setup' (it installs it with npm) "
                "or set CLASSROOM_PROXY to its path"
            )
        self.settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        hub = Path(sys.prefix) / "bin" / "jupyterhub"
        # Only what the hub needs: nothing of this process's own secrets or settings.
        keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
        environ = {k: os.environ[k] for k in keep if k in os.environ}
        environ.update(self.settings.environment(proxy))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(hub), "-f", str(self.config)],
                cwd=self.settings.state_dir,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                self.api("GET", "/")
                return
            except (OSError, HubError):
                time.sleep(0.2)
        # A hub stopped while starting does not clean up after itself: end what it started
        # (the proxy runs in a session of its own).
        started = self.descendants()
        self.stop()
        processes.kill(started)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise HubError(f"the hub did not start:\n{tail}")

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the hub's REST API (``/hub/api`` + ``path``) with the admin token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/hub/api{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"token {self.settings.admin_token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise HubError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        return json.loads(raw) if raw.strip() else None

    def start_servers(self, users: Iterable[str], timeout: float = 600) -> float:
        """Start every user's server at once (creating the users); wait until all are ready.
        Returns the seconds it took."""
        names = list(users)
        started = time.monotonic()
        existing = {u["name"] for u in self.api("GET", "/users")}
        missing = [n for n in names if n not in existing]
        if missing:
            self.api("POST", "/users", {"usernames": missing})

        def spawn(name: str) -> None:
            try:
                self.api("POST", f"/users/{name}/server", timeout=max(30.0, timeout))
            except HubError as exc:
                if "HTTP 400" not in str(exc):  # 400: already running or pending
                    raise

        # All at once: the hub answers a start request only when the server is up or after its
        # slow_spawn_timeout (10 s), so asking one after the other takes ~10 s per student.
        with ThreadPoolExecutor(max_workers=min(64, max(1, len(names)))) as pool:
            for done in [pool.submit(spawn, name) for name in names]:
                done.result()
        waiting = set(names)
        while waiting and time.monotonic() - started < timeout:
            for name in sorted(waiting):
                server = self.api("GET", f"/users/{name}").get("servers", {}).get("")
                if server and server.get("ready"):
                    waiting.discard(name)
            if waiting:
                time.sleep(0.5)
        if waiting:
            raise HubError(f"servers not ready after {timeout:.0f} s: {', '.join(sorted(waiting))}")
        return time.monotonic() - started

    def descendants(self) -> list[int]:
        """Every process the hub started that is still alive (the proxy, servers, kernels)."""
        import psutil

        if self.process is None:
            return []
        try:
            return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 60) -> None:
        """Stop the hub as its administrator would (SIGTERM): it stops the proxy, the services
        and every user's server first."""
        process, self.process = self.process, None
        if process is None:
            return
        # SIGKILL, if it comes to that, goes to the group of the hub we started, nothing else.
        processes.stop(process, timeout, group=True)

    def __enter__(self) -> Hub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
