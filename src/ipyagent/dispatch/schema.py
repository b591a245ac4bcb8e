"""Checking tool arguments against their JSON schema, quickly.

Schemas made by ``@tool`` and the built-in tools use a small vocabulary (type, properties,
required, additionalProperties, items, enum, const, anyOf, the bounds on lengths and numbers,
pattern, and annotations such as description and default); those are checked here, with the same
messages as the jsonschema library. Any schema
that uses more of JSON Schema goes to jsonschema (Draft 2020-12), imported only then: importing
it costs seconds of CPU where its optional format checkers are installed, which a first request
should not wait for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..errors import IpyagentError

# Keywords understood here; a schema with any other keyword goes to jsonschema.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment"})
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems")  # each a non-negative integer
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")  # each a finite number
_CHECKED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf"}
    | {"pattern", *_COUNTS, *_BOUNDS}
)
# A broken rule: the path to the value (keys and indices) and what is wrong with it.
Error = tuple[list[str | int], str]
_TYPES = frozenset({"string", "integer", "number", "boolean", "null", "array", "object"})


class SchemaError(IpyagentError, ValueError):
    """A schema that is not valid JSON Schema; ``message`` says what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_schema(schema: Any) -> None:
    """Raise SchemaError if ``schema`` is not a valid JSON Schema (Draft 2020-12)."""
    if _simple(schema):
        return
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(exc.message) from None


def checker(schema: Mapping[str, Any] | bool) -> Callable[[Any], list[Error]]:
    """A function giving every way an instance breaks ``schema``: (path to the value, message),
    in path order. Which checker serves the schema is decided once, here (a tool checks its
    arguments on every call)."""
    if _simple(schema):

        def check(instance: Any) -> list[Error]:
            return _in_path_order(_errors(schema, instance, []))

        return check
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return lambda instance: _in_path_order((list(e.path), e.message) for e in validator.iter_errors(instance))


def errors(schema: Mapping[str, Any] | bool, instance: Any) -> list[Error]:
    """Every way ``instance`` breaks ``schema``: (path to the value, message), in path order."""
    return checker(schema)(instance)


def _in_path_order(found: Iterable[Error]) -> list[Error]:
    return sorted(found, key=lambda e: [str(p) for p in e[0]])


def _simple(schema: Any) -> bool:
    """Whether ``schema`` is well-formed and uses only the vocabulary checked here."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping) or not set(schema) <= _CHECKED | _ANNOTATIONS:
        return False
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else kind
        if not isinstance(kinds, list) or not kinds or not all(k in _TYPES for k in kinds):
            return False
        if len(set(kinds)) != len(kinds):
            return False
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping) or not all(_simple(s) for s in properties.values()):
        return False
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return False
    if len(set(required)) != len(required):
        return False
    for key in ("additionalProperties", "items"):
        if key in schema and not _simple(schema[key]):
            return False
    if "enum" in schema and not isinstance(schema["enum"], list):
        return False
    if "anyOf" in schema:
        options = schema["anyOf"]
        if not isinstance(options, list) or not options or not all(_simple(s) for s in options):
            return False
    if not all(_count(schema[key]) for key in _COUNTS if key in schema):
        return False
    if not all(_bound(schema[key]) for key in _BOUNDS if key in schema):
        return False
    if "pattern" in schema:
        if not isinstance(schema["pattern"], str):
            return False
        try:
            re.compile(schema["pattern"])
        except re.error:
            return False
    return True


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bound(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _is(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, Mapping)  # object


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1.0 is 1, and containers compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple | Mapping) or isinstance(b, list | tuple | Mapping):
        return False
    try:
        same: bool = a == b
        return same
    except Exception:
        return False


def _errors(schema: Mapping[str, Any] | bool, value: Any, path: list[str | int]) -> Iterator[Error]:
    if schema is True:
        return
    if schema is False:
        yield path, f"False schema does not allow {value!r}"
        return
    assert isinstance(schema, Mapping)
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else kind
        if not any(_is(k, value) for k in kinds):
            shown = repr(kind) if isinstance(kind, str) else ", ".join(repr(k) for k in kinds)
            yield path, f"{value!r} is not of type {shown}"
            return  # further keywords would only repeat the same mistake
    if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
        yield path, f"{value!r} is not one of {schema['enum']!r}"
    if "const" in schema and not _equal(value, schema["const"]):
        yield path, f"{schema['const']!r} was expected"
    if "anyOf" in schema and not any(not any(_errors(s, value, path)) for s in schema["anyOf"]):
        yield path, f"{value!r} is not valid under any of the given schemas"
    if isinstance(value, str):
        yield from _length_errors(schema, value, path, "minLength", "maxLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield path, f"{value!r} does not match {schema['pattern']!r}"
    if _is("number", value):
        yield from _bound_errors(schema, value, path)
    if isinstance(value, list):
        yield from _length_errors(schema, value, path, "minItems", "maxItems")
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                yield path, f"{name!r} is a required property"
        extra = "additionalProperties" in schema and [k for k in value if k not in properties]
        if extra:
            if schema["additionalProperties"] is False:
                listed = ", ".join(repr(k) for k in sorted(extra, key=str))
                verb = "was" if len(extra) == 1 else "were"
                yield path, f"Additional properties are not allowed ({listed} {verb} unexpected)"
            else:
                for key in extra:
                    yield from _errors(schema["additionalProperties"], value[key], [*path, key])
        for key, sub in properties.items():
            if key in value:
                yield from _errors(sub, value[key], [*path, key])
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _errors(schema["items"], item, [*path, i])


def _length_errors(
    schema: Mapping[str, Any], value: str | list[Any], path: list[str | int], least: str, most: str
) -> Iterator[Error]:
    if least in schema and len(value) < schema[least]:
        yield path, f"{value!r} {'should be non-empty' if schema[least] == 1 else 'is too short'}"
    if most in schema and len(value) > schema[most]:
        yield path, f"{value!r} {'is expected to be empty' if schema[most] == 0 else 'is too long'}"


def _bound_errors(schema: Mapping[str, Any], value: float, path: list[str | int]) -> Iterator[Error]:
    if "minimum" in schema and value < schema["minimum"]:
        yield path, f"{value!r} is less than the minimum of {schema['minimum']!r}"
    if "maximum" in schema and value > schema["maximum"]:
        yield path, f"{value!r} is greater than the maximum of {schema['maximum']!r}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        yield path, f"{value!r} is less than or equal to the minimum of {schema['exclusiveMinimum']!r}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        yield path, f"{value!r} is greater than or equal to the maximum of {schema['exclusiveMaximum']!r}"
