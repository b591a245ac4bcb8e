"""A real classroom on 127.0.0.1: JupyterHub with deploy/jupyterhub_config.py, ten real OS
accounts made for the test (removed after), one llama.cpp server with the embedded model.

Each student's server is started through the hub's REST API; each student starts a kernel (the
server's default, which must be ipyagent) and sends ``%agent`` through the kernel's websocket,
through the hub's proxy; one model server answers them all. Then: each ledger is in its own
student's home, owned by them and unreadable to the others (tried from another student's
kernel); and stopping the hub leaves no process behind.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipyagent.classroom import Account, Classroom, missing_programs
from ipyagent.classroom.student import Student

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

STUDENTS = 10


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    reason = missing_programs()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    users = [f"ipa{tag}s{i}" for i in range(STUDENTS)]
    # Not under pytest's private temporary folder: the students' accounts must reach it.
    root = Path(tempfile.mkdtemp(prefix="ipyagent-classroom-test-"))
    root.chmod(0o755)
    try:
        with Classroom(users, root=root, model_calls=2) as classroom:
            yield classroom
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ledgers(home: Path) -> list[Path]:
    return sorted((home / ".local" / "share" / "jupyter" / "ipyagent" / "sessions").glob("*/*.sqlite"))


async def _talk(room: Classroom, user: str) -> tuple[Student, str]:
    t0 = time.monotonic()
    student = await Student.connect(room.hub.url, user, room.admin_token)
    t1 = time.monotonic()
    exchange = await student.agent(f"Say hello to {user} in one short sentence.")
    await asyncio.wait_for(exchange.done.wait(), 600)
    print(user, round(t1 - t0, 1), exchange.first_words, exchange.answered, room.model_server.queue())
    assert exchange.error is None, exchange.error
    return student, exchange.text


def _connection(account: Account, kernel_id: str) -> dict[str, object]:
    """A kernel's connection file, as only its owner (and root) can read it."""
    path = account.home / ".local" / "share" / "jupyter" / "runtime" / f"kernel-{kernel_id}.json"
    info: dict[str, object] = json.loads(path.read_text())
    return info


# Run in one student's kernel: try to open the other student's kernel's output channel.
_PROBE = """
import socket
info = {info!r}
try:
    if info["transport"] == "ipc":
        probe = socket.socket(socket.AF_UNIX)
        probe.connect(f"{{info['ip']}}-{{info['iopub_port']}}")
    else:
        probe = socket.create_connection((info["ip"], info["iopub_port"]), timeout=10)
    print("REACHED")
except OSError as exc:
    print("DENIED", type(exc).__name__)
"""


async def test_ten_students_share_one_model_server(room: Classroom) -> None:
    served_before = room.model_server.queue()["served"]
    seconds = room.hub.start_servers(room.users)
    started = time.monotonic()
    talks = await asyncio.gather(*(_talk(room, user) for user in room.users))
    answered = time.monotonic() - started
    print(f"{STUDENTS} servers started in {seconds:.1f} s; all answered {answered:.1f} s later")
    students = [student for student, _ in talks]
    try:
        for student, text in talks:
            assert student.kernel_name == "ipyagent", "the ipyagent kernel is every student's default"
            assert text.strip() and "the model failed" not in text, f"{student.user}: {text!r}"
        counts = room.model_server.queue()
        # Every agent was answered by the one shared server (its requests are counted there).
        assert counts["served"] - served_before >= STUDENTS
        # Each student's agent held at most its two calls there at once.
        assert counts["most_in_flight"] <= 2 * STUDENTS

        # The classroom's fair share reached the students' agents: at most 2 model calls of one
        # notebook's agent tree at once (IPYAGENT_MODEL_CALLS from the hub's configuration), and
        # each request names its student so that the model server lets them take turns.
        limits = await students[0].run(
            "import os\n"
            "from ipyagent.kernel.registry import current_session\n"
            "print(current_session(get_ipython()).model_calls.limit,\n"
            "      os.environ['IPYAGENT_MODEL_USER'], os.environ['OMP_WAIT_POLICY'])"
        )
        assert limits.text.split() == ["2", students[0].user, "PASSIVE"], limits.text

        # Each ledger is in its own student's home, theirs alone, and holds the answer.
        ledgers: dict[str, Path] = {}
        for account in room.accounts:
            found = _ledgers(account.home)
            assert len(found) == 1, f"{account.name}: {found}"
            ledgers[account.name] = found[0]
            info = found[0].stat()
            assert info.st_uid == account.uid
            assert stat.S_IMODE(found[0].parent.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(account.home.stat().st_mode) == 0o700
            with sqlite3.connect(f"file:{found[0]}?mode=ro", uri=True) as db:
                kinds = [row[0] for row in db.execute("SELECT json_extract(body, '$.kind') FROM entries")]
            assert "assistant" in kinds, kinds

        # No student can read another's ledger, or even list their home.
        for i, student in enumerate(students):
            other = room.accounts[(i + 1) % STUDENTS]
            target = ledgers[other.name]
            result = await student.run(
                "import os\n"
                f"for probe in (lambda: open({str(target)!r}, 'rb').read(),\n"
                f"              lambda: os.listdir({str(other.home)!r})):\n"
                "    try:\n"
                "        probe()\n"
                "        print('READ')\n"
                "    except PermissionError:\n"
                "        print('DENIED')\n"
            )
            assert result.status == "ok", result.text
            assert result.text.split() == ["DENIED", "DENIED"], (
                f"{student.user} -> {other.name}: {result.text}"
            )
            # Nor reach another's kernel: kernels listen on Unix sockets in their student's
            # private folder, not on TCP ports any account can connect to.
            theirs = _connection(other, students[(i + 1) % STUDENTS].kernel_id)
            assert theirs["transport"] == "ipc", theirs["transport"]
            address = {k: theirs[k] for k in ("transport", "ip", "iopub_port")}
            probe = await student.run(_PROBE.format(info=address))
            assert probe.text.split() == ["DENIED", "PermissionError"], (
                f"{student.user} reached {other.name}'s kernel: {probe.text}"
            )
            # ... while their own is theirs to read.
            own = await student.run(f"len(open({str(ledgers[student.user])!r}, 'rb').read()) > 0")
            assert own.text.strip() == "True"
    finally:
        for student in students:
            await student.close(shutdown=False)

    # Stopping the hub stops the proxy, the services, every server and every kernel.
    assert room.hub.descendants(), "the hub's processes are visible while it runs"
    left = room.stop_hub()
    assert left == [], f"processes left after the hub stopped: {left}"
    assert _ledgers(room.accounts[0].home) == [ledgers[room.users[0]]]  # the work outlives the hub
