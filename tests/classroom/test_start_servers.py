"""Starting a class's servers asks the hub for all of them at once.

JupyterHub answers a request to start a server only when the server is up or after its
``slow_spawn_timeout`` (10 s): asked one after the other, forty students' servers took seven
minutes to start on two cores. This hub's API (a stand-in on 127.0.0.1, the real one is in
test_hub.py) answers a start request only once every student's request has arrived.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ipyagent.classroom.hub import Hub, HubError, HubSettings

STUDENTS = 12


class HubAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, students: int) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.all_asked = threading.Barrier(students, timeout=10)
        self.created: list[str] = []
        self.started: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    server: HubAPI

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object = None) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/hub/api/users":
            self._reply(200, [{"name": name} for name in self.server.created])
        elif self.path.startswith("/hub/api/users/"):
            name = self.path.rsplit("/", 1)[1]
            ready = name in self.server.started
            self._reply(200, {"name": name, "servers": {"": {"ready": ready}} if ready else {}})
        else:
            self._reply(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        if self.path == "/hub/api/users":
            self.server.created += body["usernames"]
            self._reply(201, [])
        elif self.path.endswith("/server"):
            name = self.path.split("/")[-2]
            try:
                self.server.all_asked.wait()
            except threading.BrokenBarrierError:
                self._reply(500, {"message": f"{name}: the other students were not asked at once"})
                return
            self.server.started.add(name)
            self._reply(202)
        else:
            self._reply(404)


@pytest.fixture
def hub_api() -> Iterator[HubAPI]:
    api = HubAPI(STUDENTS)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def test_every_server_is_asked_for_at_once(hub_api: HubAPI, tmp_path: Path) -> None:
    users = [f"student{i}" for i in range(STUDENTS)]
    settings = HubSettings(
        state_dir=tmp_path, model="openai:m@http://127.0.0.1:1/v1", users=users, admin_token="t"
    )
    settings.public_port = hub_api.server_address[1]
    hub = Hub(settings, log=tmp_path / "hub.log")
    hub.start_servers(users, timeout=30)
    assert hub_api.created == users
    assert hub_api.started == set(users)


def test_a_refused_start_is_reported(hub_api: HubAPI, tmp_path: Path) -> None:
    users = ["only-one"]  # the stand-in waits for two: this one is refused
    settings = HubSettings(
        state_dir=tmp_path, model="openai:m@http://127.0.0.1:1/v1", users=users, admin_token="t"
    )
    settings.public_port = hub_api.server_address[1]
    hub_api.all_asked = threading.Barrier(2, timeout=0.5)
    with pytest.raises(HubError, match=r"HTTP 500 .*only-one: the other students were not asked"):
        Hub(settings, log=tmp_path / "hub.log").start_servers(users, timeout=30)
