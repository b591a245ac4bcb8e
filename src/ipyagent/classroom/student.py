"""A student as a program: a kernel in their Jupyter server, reached through the hub's proxy,
driven over the kernel's websocket the way JupyterLab drives it. For the classroom tests and the
load benchmark.

``%agent`` cells return at once and then update their output under a display id; a
:class:`Exchange` records, with times, when the first words of the answer became visible in the
cell and when the answer was complete (the view's footer says the agent is idle).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import IpyagentError


class StudentError(IpyagentError):
    """Raised when a kernel cannot be started or reached, or a cell times out."""


@dataclass
class Exchange:
    """One ``%agent`` message as the student sees it; times are seconds after sending."""

    message: str
    sent: float
    display_id: str | None = None
    first_words: float | None = None
    answered: float | None = None
    text: str = ""
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def see(self, plain: str, now: float) -> None:
        """A new rendering of the cell's view."""
        lines = plain.split("\n")
        footer = lines[-1]
        later = footer == "(continued in a later cell)"
        if not (footer.startswith("main: ") or later):
            return  # "sent" or "queued": the agent has not taken the message yet
        body = "\n".join(lines[:-1]).strip()
        self.text = body
        if body and self.first_words is None:
            self.first_words = now - self.sent
        if body and (later or footer.startswith("main: idle")) and self.answered is None:
            self.answered = now - self.sent
            self.done.set()

    def refuse(self, error: str) -> None:
        self.error = error.strip()
        self.done.set()

    @property
    def failed(self) -> bool:
        """The message was refused, or the model failed instead of answering."""
        return self.error is not None or "the model failed" in self.text


@dataclass
class CellResult:
    status: str
    text: str  # what the cell printed and returned, and its error


@dataclass
class _Cell:
    """A running cell: its outputs so far, its reply's status, whether IOPub said idle."""

    done: asyncio.Future[CellResult]
    out: list[str] = field(default_factory=list)
    status: str | None = None
    idle: bool = False


class Student:
    """One user's kernel: ``await Student.connect(hub_url, user, token)``."""

    def __init__(self, user: str, base: str, token: str, kernel_id: str, kernel_name: str) -> None:
        self.user = user
        self.base = base
        self.token = token
        self.kernel_id = kernel_id
        self.kernel_name = kernel_name
        self._socket: Any = None
        self._session = uuid.uuid4().hex
        self._cells: dict[str, _Cell] = {}
        self._exchanges: dict[str, Exchange] = {}  # by the execute request's id, then display id
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, hub_url: str, user: str, token: str, kernel: str | None = None, seconds: float = 300
    ) -> Student:
        """Start a kernel in ``user``'s server (the server's default kernel unless ``kernel``) and
        open its websocket, within ``seconds`` each."""
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
        from tornado.websocket import websocket_connect

        base = f"{hub_url}/user/{urllib.parse.quote(user)}"
        headers = {"Authorization": f"token {token}"}
        body = json.dumps({"name": kernel} if kernel else {})
        # Forty students opening notebooks at once: tornado's client runs ten requests at a time
        # and a request waiting its turn gives up after the smaller of its two timeouts (20 s by
        # default), and a kernel's websocket opens only once the kernel answers, which takes
        # minutes when forty kernels start together on two cores.
        try:
            reply = await AsyncHTTPClient().fetch(
                HTTPRequest(
                    f"{base}/api/kernels",
                    method="POST",
                    headers=headers,
                    body=body,
                    connect_timeout=seconds,
                    request_timeout=seconds,
                )
            )
        except HTTPClientError as exc:
            raise StudentError(f"{user}: starting a kernel failed: {exc}") from None
        info = json.loads(reply.body)
        student = cls(user, base, token, info["id"], info["name"])
        ws_url = (
            base.replace("http", "ws", 1)
            + f"/api/kernels/{info['id']}/channels?session_id={student._session}"
        )
        student._socket = await websocket_connect(
            HTTPRequest(ws_url, headers=headers, connect_timeout=seconds, request_timeout=seconds)
        )
        student._reader = asyncio.get_running_loop().create_task(student._read())
        return student

    def _message(self, msg_type: str, content: dict[str, Any]) -> tuple[str, str]:
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "username": self.user,
                "session": self._session,
                "date": "",
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
        return msg_id, json.dumps(message)

    async def run(self, code: str, seconds: float = 60) -> CellResult:
        """Run a cell; its printed output, result and error, once it is done."""
        msg_id, raw = self._message("execute_request", {"code": code, "silent": False, "store_history": True})
        done: asyncio.Future[CellResult] = asyncio.get_running_loop().create_future()
        self._cells[msg_id] = _Cell(done)
        await self._socket.write_message(raw)
        try:
            return await asyncio.wait_for(done, seconds)
        except TimeoutError:
            raise StudentError(
                f"{self.user}: the cell did not finish in {seconds:.0f} s: {code[:60]!r}"
            ) from None
        finally:
            self._cells.pop(msg_id, None)

    async def agent(self, message: str) -> Exchange:
        """Send ``%agent MESSAGE``; the exchange fills in as the answer shows in the cell."""
        msg_id, raw = self._message(
            "execute_request", {"code": f"%agent {message}", "silent": False, "store_history": True}
        )
        exchange = Exchange(message, time.monotonic())
        self._exchanges[msg_id] = exchange
        await self._socket.write_message(raw)
        return exchange

    async def _read(self) -> None:
        while True:
            raw = await self._socket.read_message()
            if raw is None:
                self._closed()
                return
            now = time.monotonic()
            message = json.loads(raw)
            parent = message.get("parent_header", {}).get("msg_id", "")
            kind = message.get("msg_type") or message.get("header", {}).get("msg_type")
            content = message.get("content", {})
            display_id = (content.get("transient") or {}).get("display_id")
            if kind in ("display_data", "update_display_data") and display_id:
                if parent in self._exchanges and self._exchanges[parent].display_id is None:
                    self._exchanges[parent].display_id = display_id
                    self._exchanges[display_id] = self._exchanges[parent]
                exchange = self._exchanges.get(display_id)
                if exchange is not None:
                    exchange.see(content.get("data", {}).get("text/plain", ""), now)
            if parent in self._exchanges and kind in ("stream", "error"):
                # The magic refused the message (a one-line error instead of a view).
                self._exchanges[parent].refuse(content.get("text") or content.get("evalue", ""))
            cell = self._cells.get(parent)
            if cell is None:
                continue
            if kind == "stream":
                cell.out.append(content.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                cell.out.append(content.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                cell.out.append(f"{content.get('ename')}: {content.get('evalue')}")
            elif kind == "execute_reply":
                cell.status = content.get("status", "?")
            elif kind == "status" and content.get("execution_state") == "idle":
                cell.idle = True
            # Done once the shell's reply and the last output (IOPub's "idle") are both in: the
            # two channels are not ordered with respect to each other.
            if cell.status is not None and cell.idle and not cell.done.done():
                cell.done.set_result(CellResult(cell.status, "".join(cell.out)))

    def _closed(self) -> None:
        """The kernel's websocket closed (the kernel died, or its server stopped): whatever waits
        on it fails now, saying so, instead of waiting out its timeout."""
        reason = getattr(self._socket, "close_reason", None) or "no reason given"
        why = f"{self.user}: the kernel's connection closed ({reason}); is the kernel dead?"
        for exchange in list(self._exchanges.values()):
            if not exchange.done.is_set():
                exchange.refuse(why)
        for cell in list(self._cells.values()):
            if not cell.done.done():
                cell.done.set_exception(StudentError(why))

    async def close(self, *, shutdown: bool = True) -> None:
        """Close the websocket and (by default) shut the kernel down."""
        if self._reader is not None:
            self._reader.cancel()
        if self._socket is not None:
            self._socket.close()
        if shutdown:
            from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

            with contextlib.suppress(HTTPClientError, OSError):  # the server may be gone already
                await AsyncHTTPClient().fetch(
                    HTTPRequest(
                        f"{self.base}/api/kernels/{self.kernel_id}",
                        method="DELETE",
                        headers={"Authorization": f"token {self.token}"},
                        request_timeout=30,
                    )
                )
