"""Every keyword of the fast schema check, case by case, against jsonschema: the same errors, at the
same paths, with the same words (what the model and the user read when a tool call is rejected).

A fixed table rather than generated cases, so it runs in a fraction of a second and each keyword's
edges (a bound met exactly, one past it, true against 1) are certainly tried.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from ipyagent.dispatch.schema import SchemaError, _simple, check_schema, checker, errors

TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]
SCHEMAS: list[Any] = [
    True,
    False,
    {},
    *({"type": t} for t in TYPES),
    {"type": ["string", "null"]},
    {"type": ["integer", "boolean"]},
    {"enum": ["a", 1, True, None]},
    {"enum": [[1, 2], {"x": 1}, 2.5]},
    {"enum": [False, 0.0]},
    {"const": 1},
    {"const": True},
    {"const": "a"},
    {"const": [1, "a"]},
    {"const": {"x": 1, "y": [True]}},
    {"const": None},
    {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer", "minimum": 1}]},
    {"anyOf": [False]},
    {"type": "string", "minLength": 1},
    {"minLength": 2},
    {"maxLength": 0},
    {"maxLength": 2},
    {"minItems": 1},
    {"minItems": 2},
    {"maxItems": 0},
    {"maxItems": 2},
    {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,4}$"},
    {"pattern": "[0-9]"},
    {"minimum": 0},
    {"minimum": -1.5},
    {"maximum": 1},
    {"exclusiveMinimum": 0},
    {"exclusiveMaximum": 1},
    {"minimum": 1, "maximum": 1},
    {"type": "integer", "minimum": 1, "maximum": 3},
    {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "string"}}, "required": ["x"]},
    {"type": "object", "required": ["x", "y"]},
    {"type": "object", "properties": {"x": {}}, "additionalProperties": False},
    {"type": "object", "properties": {"x": {}}, "additionalProperties": {"type": "integer"}},
    {"type": "object", "additionalProperties": True},
    {"type": "array", "items": {"type": "integer", "minimum": 1}},
    {
        "type": "object",
        "properties": {
            "x": {"type": "object", "properties": {"y": {"type": "array", "items": {"type": "null"}}}}
        },
    },
    {"description": "any value", "title": "t", "default": 1, "examples": [1], "$comment": "c"},
]
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    3,
    4,
    1.0,
    0.0,
    2.5,
    -1.5,
    -2.0,
    "",
    "a",
    "ab",
    "abcde",
    "a-1",
    "Oslo-2",
    [],
    [1],
    [1, 2],
    [1, 2, 3],
    [1, "a"],
    [0, None],
    ["a", "b"],
    [None],
    {},
    {"x": 1},
    {"x": 1.0},
    {"x": True},
    {"x": "a", "y": 2},
    {"x": 1, "y": "b", "z": 3},
    {"y": "b"},
    {"z": None, "w": "q"},
    {"x": {"y": [None, 1]}},
    {"x": {"y": "no"}},
    {"x": 1, "y": [True]},
]


def theirs(schema: Any, value: Any) -> list[tuple[list[str | int], str]]:
    found = [(list(e.path), e.message) for e in jsonschema.Draft202012Validator(schema).iter_errors(value)]
    return sorted(found, key=lambda e: [str(p) for p in e[0]])


@pytest.mark.parametrize("schema", SCHEMAS, ids=[f"schema{i}" for i in range(len(SCHEMAS))])
def test_the_fast_check_finds_what_jsonschema_finds(schema: Any) -> None:
    assert _simple(schema)
    check = checker(schema)
    for value in VALUES:
        ours = check(value)
        expected = theirs(schema, value)
        assert ours == errors(schema, value)
        # A value of the wrong type gets that one error: the keywords for other types do not
        # apply to it, and those for its own type would repeat the mistake.
        if any("is not of type" in message for _, message in ours):
            assert ours[0] in expected, (schema, value, ours, expected)
            continue
        assert ours == expected, (schema, value)


def test_integers_written_as_floats_are_integers_but_true_is_not_1() -> None:
    assert errors({"type": "integer"}, 2.0) == []
    assert errors({"type": "integer"}, 2.5) == [([], "2.5 is not of type 'integer'")]
    assert errors({"type": "integer"}, True) == [([], "True is not of type 'integer'")]
    assert errors({"type": "number"}, False) == [([], "False is not of type 'number'")]
    assert errors({"type": "integer"}, float("inf")) == [([], "inf is not of type 'integer'")]
    assert errors({"enum": [1]}, True) == [([], "True is not one of [1]")]
    assert errors({"const": True}, 1) == [([], "True was expected")]
    assert errors({"const": [1]}, (1,)) == []


def test_several_errors_come_in_path_order() -> None:
    schema = {
        "type": "object",
        "properties": {"b": {"type": "integer"}, "a": {"type": "string"}, "c": {"maxLength": 1}},
        "required": ["d"],
    }
    assert errors(schema, {"b": "x", "a": 1, "c": "long"}) == [
        ([], "'d' is a required property"),
        (["a"], "1 is not of type 'string'"),
        (["b"], "'x' is not of type 'integer'"),
        (["c"], "'long' is too long"),
    ]
    assert errors({"additionalProperties": False}, {"b": 1, "a": 2}) == [
        ([], "Additional properties are not allowed ('a', 'b' were unexpected)")
    ]


MALFORMED: list[Any] = [
    {"type": "strin"},
    {"type": []},
    {"type": ["string", "string"]},
    {"type": 3},
    {"properties": []},
    {"properties": {"x": {"type": "wrong"}}},
    {"required": "x"},
    {"required": [1]},
    {"required": ["x", "x"]},
    {"additionalProperties": {"type": "wrong"}},
    {"items": {"minimum": "0"}},
    {"enum": "a"},
    {"anyOf": []},
    {"anyOf": {"type": "string"}},
    {"anyOf": [{"type": "wrong"}]},
    {"minLength": -1},
    {"maxItems": True},
    {"minItems": 1.5},
    {"minimum": "0"},
    {"maximum": True},
    {"pattern": "("},
    {"pattern": 5},
    3,
]


@pytest.mark.parametrize("schema", MALFORMED, ids=[f"malformed{i}" for i in range(len(MALFORMED))])
def test_a_malformed_schema_is_refused_with_jsonschemas_words(schema: Any) -> None:
    assert not _simple(schema)
    with pytest.raises(jsonschema.SchemaError) as expected:
        jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(SchemaError) as ours:
        check_schema(schema)
    assert ours.value.message == expected.value.message
    assert str(ours.value) == expected.value.message


def test_a_well_formed_schema_passes_the_check() -> None:
    for schema in SCHEMAS:
        check_schema(schema)
    check_schema({"type": "number", "multipleOf": 0.5})  # beyond the fast vocabulary: still valid


def test_keywords_beyond_the_fast_vocabulary_are_still_checked() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "number", "multipleOf": 0.5}},
        "not": {"required": ["z"]},
    }
    assert not _simple(schema)
    assert errors(schema, {"n": 1.5}) == []
    assert errors(schema, {"n": 0.3}) == [(["n"], "0.3 is not a multiple of 0.5")]
    assert errors(schema, {"n": 1, "z": 0}) == [
        ([], "{'n': 1, 'z': 0} should not be valid under {'required': ['z']}")
    ]


def test_the_fast_vocabulary_never_reaches_for_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool's own schema is checked without jsonschema (importing it costs seconds)."""

    def unavailable(*args: object, **kwargs: object) -> None:
        raise AssertionError("jsonschema was used")

    monkeypatch.setattr(jsonschema, "Draft202012Validator", unavailable)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    check_schema(schema)
    assert checker(schema)({"n": "1"}) == [(["n"], "'1' is not of type 'integer'")]
