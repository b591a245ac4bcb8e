"""Everything the project listens on is bound to 127.0.0.1: the ipyagent kernel's ZMQ ports (and
nothing else in the kernel, even with the agent, its widgets and their subshell running), and
JupyterLab as ``make lab`` starts it, with an ipyagent kernel inside. The servers the tests and
benchmarks start bind 127.0.0.1 too.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from ipyagent import processes

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


def listening(pid: int) -> list[tuple[str, int]]:
    """The TCP addresses a process and all its children are listening on."""
    process = psutil.Process(pid)
    found = []
    for p in [process, *process.children(recursive=True)]:
        try:
            connections = p.net_connections(kind="inet")
        except psutil.NoSuchProcess:  # a short-lived helper process, gone already
            continue
        found += [(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    return found


def test_the_kernel_listens_on_loopback_only(start_kernel, script, kernel_dirs) -> None:  # type: ignore[no-untyped-def]
    kernel = start_kernel(script([{"delay": 0.1, "text": "Hello."}] * 3))
    # The agent, its thread, a widget (and the widgets' subshell) are all running.
    view = kernel.view_of(kernel.execute("%agent hi"))
    kernel.wait_view(view, lambda t: "Hello." in t)
    kernel.run("%chat")
    connection = json.loads(Path(kernel.km.connection_file).read_text())
    assert connection["ip"] == LOOPBACK
    addresses = listening(kernel.km.provisioner.process.pid)
    ports = {connection[f"{name}_port"] for name in ("shell", "iopub", "stdin", "control", "hb")}
    assert ports <= {port for _, port in addresses}
    assert {ip for ip, _ in addresses} == {LOOPBACK}, addresses


def make_lab_command() -> list[str]:
    """The ``jupyter lab`` command of the Makefile's ``lab`` target."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lab:.*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe is not None, "the Makefile has no lab target"
    words = shlex.split(recipe.group(1).replace("$(BIN)/", ""))
    assert words[:2] == ["jupyter", "lab"]
    return words[2:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def test_make_lab_listens_on_loopback_only(kernel_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = make_lab_command()
    assert f"--ip={LOOPBACK}" in args
    port, token = free_port(), "security-test"
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    args = [a for a in args if not a.startswith("--notebook-dir")]
    command = [
        sys.executable, "-m", "jupyter", "lab", *args, f"--notebook-dir={notebooks}", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--no-browser", "--allow-root",
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
        "--ServerApp.shutdown_no_activity_timeout=120",
    ]  # fmt: skip
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT / "src"),
        "JUPYTER_PATH": str(kernel_dirs["prefix"] / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(kernel_dirs["runtime"]),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "IPYTHONDIR": str(kernel_dirs["ipython"]),
        "IPYAGENT_SESSION_DIR": str(kernel_dirs["sessions"]),
    }
    lab = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{LOOPBACK}:{port}/api"
    headers = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{base}/status", headers=headers), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or lab.poll() is not None:
                    pytest.fail("JupyterLab did not start")
                time.sleep(0.3)
        start = urllib.request.Request(
            f"{base}/kernels", data=json.dumps({"name": "ipyagent"}).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(start, timeout=60) as response:
            kernel_id = json.load(response)["id"]
        # Until the kernel's ports are open, it does not count.
        deadline = time.monotonic() + 60
        while len(listening(lab.pid)) < 6 and time.monotonic() < deadline:
            time.sleep(0.3)
        addresses = listening(lab.pid)
        assert (LOOPBACK, port) in addresses
        assert len(addresses) >= 6, addresses  # the server and the kernel's five ZMQ ports
        assert {ip for ip, _ in addresses} == {LOOPBACK}, addresses
        connection = json.loads(next(kernel_dirs["runtime"].glob(f"kernel-{kernel_id}*.json")).read_text())
        assert connection["ip"] == LOOPBACK
    finally:
        processes.stop(lab, 20)


# What starts a server in a test or a benchmark, and where it says which address.
_BINDS = re.compile(
    r"\.bind\(\(\s*(?P<a>[^,]+),|start_server\([^,]+,\s*(?P<b>[^,)]+)|local_host=(?P<c>[^,)]+)"
    r"|--ip=(?P<d>[^\"' ,]+)|ServerApp\.ip=(?P<e>[^\"' ,]+)|\"--host\",\s*(?P<f>\S+)"
    r"|Server\(\(\s*(?P<g>[^,]+),|create_server\([^,]+,\s*(?P<h>[^,)]+)|\bhost=(?P<i>[^,)]+)"
)


def test_servers_of_the_package_tests_and_benchmarks_bind_loopback() -> None:
    found = []
    for folder in ("src", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # this file: its patterns, not servers
            text = path.read_text()
            for match in _BINDS.finditer(text):
                where = f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
                address = next(v for v in match.groupdict().values() if v is not None).strip(" \"',")
                found.append((where, address))
    # The scan sees them: the fake providers, the llama.cpp server, JupyterLab's start-up.
    assert {"providers.py", "model_server.py"} <= {Path(w.split(":")[0]).name for w, _ in found}
    assert len(found) >= 4
    # The classroom's shared model server binds where its administrator says (`--host`, to serve
    # a class from another machine); unless told, it binds loopback like everything else.
    shared = ROOT / "src/ipyagent/classroom/model_server.py"
    assert f'"--host", default="{LOOPBACK}"' in shared.read_text()
    chosen = {
        (f"{shared.relative_to(ROOT)}", "args.host"),
        (f"{shared.relative_to(ROOT)}", f'default="{LOOPBACK}")'),
    }
    wrong = [(where, a) for where, a in found if a != LOOPBACK and (where.split(":")[0], a) not in chosen]
    assert wrong == [], found
