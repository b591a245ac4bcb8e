"""The shared model server lets students take turns: one student's flood of requests does not go
ahead of the others' questions.

The model server's middleware in front of a stand-in for llama.cpp's app that answers one
request at a time and only when the test says so, so the order is exact and nothing waits on a
real clock.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ipyagent.classroom.model_server import FairTurns, RequestCounter

FLOOD = 10


class OneAtATimeModel:
    """An ASGI app that answers chat requests when released, and records whose they were."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.answering = 0
        self.most_at_once = 0
        self.release: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.order.append(json.loads(message["body"]).get("user", "?"))
        self.answering += 1
        self.most_at_once = max(self.most_at_once, self.answering)
        try:
            await self.release.get()
        finally:
            self.answering -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def ask(server: RequestCounter, user: str | None) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if user is not None:
        request["user"] = user
    body = json.dumps(request).encode()
    sent = False
    replies: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        replies.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    await server(scope, receive, send)
    return replies


async def queue(server: RequestCounter) -> dict[str, int]:
    replies: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        replies.append(message)

    await server({"type": "http", "method": "GET", "path": "/queue"}, None, send)
    counts: dict[str, int] = json.loads(replies[1]["body"])
    return counts


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def flood_then_two_questions(turns: FairTurns | None) -> tuple[list[str], dict[str, int]]:
    model = OneAtATimeModel()
    server = RequestCounter(model, max_tokens=64, turns=turns)  # type: ignore[arg-type]
    asking = [asyncio.create_task(ask(server, "flooder")) for _ in range(FLOOD)]
    await settle()
    asking += [asyncio.create_task(ask(server, "ana")), asyncio.create_task(ask(server, "ben"))]
    await settle()
    counts = await queue(server)
    for _ in asking:
        model.release.put_nowait(None)
        await settle()
    replies = await asyncio.gather(*asking)
    assert all(r[0]["status"] == 200 for r in replies)
    if turns is not None:
        assert model.most_at_once == 1
    return model.order, counts


async def test_the_others_wait_for_one_request_of_the_flooder_not_all() -> None:
    order, counts = await flood_then_two_questions(FairTurns(slots=1))
    # The flooder's first request was being answered; then one more of theirs, then each of the
    # others in the order they came, then the rest of the flood.
    assert order[:4] == ["flooder", "flooder", "ana", "ben"]
    assert order[4:] == ["flooder"] * (FLOOD - 2)
    assert counts["in_flight"] == FLOOD + 2
    assert counts["waiting"] == FLOOD + 1
    assert counts["students_waiting"] == 3


async def test_in_arrival_order_the_flood_goes_first() -> None:
    # Without turns (llama.cpp's own order) the same questions come after the whole flood.
    order, _ = await flood_then_two_questions(None)
    assert order.index("ana") == FLOOD


async def test_requests_without_a_student_share_one_line_in_arrival_order() -> None:
    model = OneAtATimeModel()
    server = RequestCounter(model, turns=FairTurns(slots=1))  # type: ignore[arg-type]
    asking = []
    for user in (None, None, "ana", None):
        asking.append(asyncio.create_task(ask(server, user)))
        await settle()
    for _ in asking:
        model.release.put_nowait(None)
        await settle()
    await asyncio.gather(*asking)
    assert model.order == ["?", "?", "ana", "?"]


async def test_a_request_given_up_while_waiting_leaves_its_place() -> None:
    model = OneAtATimeModel()
    turns = FairTurns(slots=1)
    server = RequestCounter(model, turns=turns)  # type: ignore[arg-type]
    first = asyncio.create_task(ask(server, "ana"))
    await settle()
    gone = asyncio.create_task(ask(server, "ben"))
    last = asyncio.create_task(ask(server, "cleo"))
    await settle()
    gone.cancel()  # the client went away while it waited
    await settle()
    assert (await queue(server))["students_waiting"] == 1
    model.release.put_nowait(None)
    await first
    await settle()
    model.release.put_nowait(None)
    await last
    assert model.order == ["ana", "cleo"]
    assert turns.running == 0 and turns.waiting == 0
    with pytest.raises(asyncio.CancelledError):
        await gone
