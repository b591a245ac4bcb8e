from __future__ import annotations

from typing import Any

import pytest

from ipyagent.widgets import AgentWidget


class Wire:
    """Every comm message a widget sends (custom messages and state updates), in order."""

    def __init__(self, widget: AgentWidget) -> None:
        self.messages: list[dict[str, Any]] = []
        original = widget._send

        def send(msg: dict[str, Any], buffers: Any = None) -> None:
            self.messages.append(msg)
            original(msg, buffers=buffers)

        widget._send = send  # type: ignore[method-assign]

    def custom(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = [m["content"] for m in self.messages if m.get("method") == "custom"]
        return [m for m in found if kind is None or m.get("type") == kind]

    def states(self, key: str) -> list[Any]:
        return [m["state"][key] for m in self.messages if m.get("method") == "update" and key in m["state"]]


@pytest.fixture
def wire() -> type[Wire]:
    return Wire
