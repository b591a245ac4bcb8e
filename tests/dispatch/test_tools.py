"""@tool: schemas from signatures, validation with one-line reasons."""

from __future__ import annotations

from typing import Literal

import pytest

from ipyagent import tool
from ipyagent.errors import ToolCallError, ToolDefinitionError


def test_schema_from_signature() -> None:
    @tool(timeout=3)
    def book(
        city: str, nights: int, style: Literal["cheap", "nice"] = "nice", tags: list[str] | None = None
    ) -> str:
        "Book a hotel."
        return city

    assert book.description == "Book a hotel."
    assert book.timeout == 3
    assert not book.is_async
    assert book.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "nights": {"type": "integer"},
            "style": {"enum": ["cheap", "nice"], "default": "nice"},
            "tags": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "default": None,
            },
        },
        "required": ["city", "nights"],
        "additionalProperties": False,
    }
    assert book("Oslo", 2) == "Oslo"  # still callable directly


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"city": "Oslo"}, "invalid arguments: 'nights' is a required property"),
        ({"city": "Oslo", "nights": "two"}, "invalid arguments at 'nights': 'two' is not of type 'integer'"),
        (
            {"city": "Oslo", "nights": 1, "pets": True},
            "Additional properties are not allowed ('pets' was unexpected)",
        ),
        ("{city: Oslo", "arguments are not a JSON object: '{city: Oslo'"),
    ],
)
def test_validation_errors_are_one_clear_line(arguments: object, reason: str) -> None:
    @tool
    async def book(city: str, nights: int) -> str:
        "Book."
        return city

    with pytest.raises(ToolCallError) as info:
        book.validate(arguments)  # type: ignore[arg-type]
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_definition_errors() -> None:
    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match="give it a docstring"):
        tool(undocumented)

    def untyped(x):  # type: ignore[no-untyped-def]
        "Doc."
        return x

    with pytest.raises(ToolDefinitionError, match="parameter 'x' needs a type annotation"):
        tool(untyped)

    def weird(x: complex) -> None:
        "Doc."

    with pytest.raises(ToolDefinitionError, match="cannot describe type"):
        tool(weird)
