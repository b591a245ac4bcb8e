"""The two sides of the wire agree: every message and record type in ``wire.py`` has the same
fields, and the same optional ones, as its TypeScript twin in ``js/wire.d.ts``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, get_origin, get_type_hints

import pytest

from ipyagent.widgets import wire

D_TS = (Path(wire.__file__).parent / "js" / "wire.d.ts").read_text(encoding="utf-8")
SHARED = [
    "Row", "CallState", "Live", "ResetMsg", "RowsMsg", "BatchMsg", "SearchingMsg", "ErrorMsg",
    "HelloMsg", "ByeMsg", "SyncMsg", "FollowMsg", "WindowMsg", "FilterMsg", "SendMsg", "InterruptMsg",
    "CancelMsg",
]  # fmt: skip


def ts_fields(name: str) -> dict[str, bool]:
    """Field -> optional, for ``export interface NAME { ... }``."""
    found = re.search(r"export interface " + name + r"\s*\{(.*?)\}", D_TS, re.S)
    assert found, f"{name} is missing from wire.d.ts"
    body = re.sub(r"//[^\n]*", "", found.group(1))
    return {m.group(1): bool(m.group(2)) for m in re.finditer(r"(\w+)(\??):", body)}


@pytest.mark.parametrize("name", SHARED)
def test_python_and_typescript_declare_the_same_fields(name: str) -> None:
    typed = getattr(wire, name)
    hints = get_type_hints(typed, include_extras=True)
    python = {field: get_origin(hint) is NotRequired for field, hint in hints.items()}
    assert python == ts_fields(name)


def test_every_browser_message_type_is_in_the_typescript_union() -> None:
    union = re.search(r"export type ClientMsg =([^;]*);", D_TS)
    assert union
    ts_members = set(re.findall(r"\w+", union.group(1)))
    py_members = {t.__name__ for t in wire.ClientMsg.__args__}
    assert ts_members == py_members
    kinds = set()
    for name in ts_members:
        body = re.search(r"export interface " + name + r"\s*\{(.*?)\}", D_TS, re.S)
        assert body
        kinds.update(re.findall(r'type: "(\w+)"', body.group(1)))
    assert kinds == set(wire._FIELDS)  # the kinds the kernel checks


class ProbeMsg(TypedDict):
    type: Literal["probe"]
    size: int
    ratio: float
    note: NotRequired[str]


def test_the_fields_the_kernel_checks_are_read_from_the_typed_messages() -> None:
    required, optional = wire.fields_of(ProbeMsg)
    assert required == {"probe": {"size": (int,), "ratio": (int, float)}}
    assert optional == {"probe": {"note": (str,)}}
    # and the real tables are the ones the TypedDicts declare, optional fields included
    assert wire._OPTIONAL["stopped"] == {"chunks": (int,)}
    assert wire._VOICE_FIELDS["playback"] == {"chunk": (int,), "played": (int, float), "done": (bool,)}
