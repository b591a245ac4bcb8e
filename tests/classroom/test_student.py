"""A student's kernel that dies: whatever waits on it fails at once, saying why.

The classroom's hub test once waited ten silent minutes for an answer from a kernel that had died
at start (its port was taken). Here a stand-in Jupyter server on 127.0.0.1 starts a "kernel" whose
websocket closes as soon as a cell is sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from tornado.websocket import WebSocketHandler

from ipyagent.classroom.student import Student, StudentError


class Kernels(RequestHandler):
    def post(self, user: str) -> None:
        self.set_status(201)
        self.finish(json.dumps({"id": "k1", "name": "ipyagent"}))


class DyingChannels(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.close(1011, "kernel died")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = Application(
        [
            (r"/user/([^/]+)/api/kernels", Kernels),
            (r"/user/[^/]+/api/kernels/k1/channels", DyingChannels),
        ]
    )
    sockets = bind_sockets(0, "127.0.0.1")
    http = HTTPServer(app)
    http.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    http.stop()


async def test_an_agent_message_to_a_dead_kernel_fails_at_once(server: str) -> None:
    student = await Student.connect(server, "ann", "token", seconds=10)
    exchange = await student.agent("hello")
    await asyncio.wait_for(exchange.done.wait(), 10)
    assert exchange.failed
    assert exchange.error is not None and "the kernel's connection closed (kernel died)" in exchange.error
    await student.close(shutdown=False)


async def test_a_cell_in_a_dead_kernel_fails_at_once(server: str) -> None:
    student = await Student.connect(server, "ann", "token", seconds=10)
    with pytest.raises(StudentError, match="ann: the kernel's connection closed"):
        await student.run("1 + 1", seconds=30)
    await student.close(shutdown=False)
