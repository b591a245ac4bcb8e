"""Tools: plain Python callables (async or sync) that a model can call.

``@tool`` reads the signature and the docstring: parameter types become a JSON schema that the
model sees and that every call's arguments are validated against before the tool starts.
"""

from __future__ import annotations

import abc
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin, overload

import anyio

from ..clock import Clock
from ..errors import ToolCallError, ToolDefinitionError
from ..ledger.render.context import ToolSpec
from .schema import Error, SchemaError, check_schema, checker

if TYPE_CHECKING:
    from .tasks import BackgroundTask, TaskRunner

# Starts one validated call through the runner: ``(runner, arguments, call_id) -> task``.
Starter = Callable[["TaskRunner", dict[str, Any], "str | None"], "BackgroundTask"]

# The tool names both OpenAI and Anthropic accept; a name is checked once, when the tool is made.
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_for(annotation: Any, where: str) -> dict[str, Any]:
    """JSON schema for a Python annotation; raises ToolDefinitionError for ones we cannot express."""
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        item = args[0] if args else None
        return {"type": "array", "items": _schema_for(item, where)} if item is not None else {"type": "array"}
    if origin in (dict, Mapping) or annotation is dict:
        return {"type": "object"}
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and len(args) == 2:
            inner = _schema_for(options[0], where)
            return {"anyOf": [inner, {"type": "null"}]}
        return {"anyOf": [_schema_for(a, where) for a in args]}
    if annotation is type(None):
        return {"type": "null"}
    if annotation is Any:
        return {}
    raise ToolDefinitionError(
        f"{where}: cannot describe type {annotation!r} to a model; "
        "use str, int, float, bool, Literal, list or dict"
    )


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """A docstring's description (without its parameter section) and each parameter's
    description, from Google, NumPy or reST (Sphinx) style; ``(doc, {})`` for plain text."""
    import docstring_parser

    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return doc, {}
    params = {p.arg_name: " ".join(p.description.split()) for p in parsed.params if p.description}
    if not params:
        return doc, {}
    text = "\n\n".join(part for part in (parsed.short_description, parsed.long_description) if part)
    return text or doc, params


def _annotation_and_description(hint: Any) -> tuple[Any, str | None]:
    """``Annotated[T, "description"]`` -> ``(T, "description")``; anything else -> ``(hint, None)``."""
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        texts = [x for x in extras if isinstance(x, str)]
        return base, (" ".join(texts[0].split()) if texts else None)
    return hint, None


def _describe(
    fn: Callable[..., Any], name: str, described: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The JSON schema of ``fn``'s parameters; ``described`` gives their descriptions (from the
    docstring), which ``Annotated[T, "..."]`` overrides."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot read its type hints: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {name!r}: *args/**kwargs cannot be described to a model; "
                "give the schema yourself with @tool(parameters=...) or Tool.from_schema"
            )
        if param.name not in hints:
            raise ToolDefinitionError(f"tool {name!r}: parameter {param.name!r} needs a type annotation")
        hint, text = _annotation_and_description(hints[param.name])
        prop = _schema_for(hint, f"tool {name!r}, parameter {param.name!r}")
        text = text or (described or {}).get(param.name)
        if text:
            prop = {**prop, "description": text}
        if param.default is param.empty:
            required.append(param.name)
        else:
            prop = {**prop, "default": param.default}
        properties[param.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


class BaseTool(abc.ABC):
    """What a model sees of a tool (name, description, JSON schema of its arguments), how a
    call's arguments are checked, and how a call starts as a background task."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    timeout: float | None
    _check: Callable[[Any], list[Error]]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not TOOL_NAME.fullmatch(self.name):
            shown = str(self.name)
            suggestion = re.sub(r"[^a-zA-Z0-9_-]", "_", shown)[:64] or "my_tool"
            raise ToolDefinitionError(
                f"tool name {shown[:80]!r} is refused: OpenAI and Anthropic accept only letters, "
                f"digits, '_' and '-' (1-64 characters); use e.g. {suggestion!r}"
            )
        try:
            check_schema(self.parameters)
        except SchemaError as exc:
            raise ToolDefinitionError(
                f"tool {self.name!r}: invalid parameter schema: {exc.message}"
            ) from None
        object.__setattr__(self, "_check", checker(self.parameters))  # decided once, used per call

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def validate(self, arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
        """Return the arguments to call with, or raise ToolCallError saying what is wrong."""
        if arguments is None or isinstance(arguments, str):
            shown = (arguments or "")[:120]
            raise ToolCallError(self.name, f"arguments are not a JSON object: {shown!r}")
        found = self._check(dict(arguments))
        if found:
            path, message = found[0]
            where = "/".join(str(p) for p in path)
            raise ToolCallError(self.name, f"invalid arguments{f' at {where!r}' if where else ''}: {message}")
        return dict(arguments)

    @abc.abstractmethod
    def start(self, runner: TaskRunner, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        """Start a call (arguments already validated) as a background task of ``runner``.
        Raises ToolCallError if the call cannot start."""


@dataclass(frozen=True, eq=False)
class Tool(BaseTool):
    """A Python callable the agent can run in the background on a model's request.

    ``timeout`` (seconds of the agent's clock, ``None`` for none) bounds one run.
    """

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: Mapping[str, Any]
    timeout: float | None = None
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))
        super().__post_init__()

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        fn: Callable[..., Any],
        *,
        timeout: float | None = None,
    ) -> Tool:
        """A tool whose JSON schema comes from elsewhere (an MCP server, an OpenAPI document).

        The schema is kept exactly as given (descriptions, nested objects, ``format``,
        ``maximum``, ``additionalProperties``); every call is validated against it, and ``fn``
        is called with the arguments as keywords, so ``def fn(**arguments)`` takes any schema.
        Raises ToolDefinitionError (one line) for a schema that is not valid JSON Schema.
        """
        return cls(fn, name, description, parameters, timeout)

    def start(self, runner: TaskRunner, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        """Run the function in the background."""
        return runner.start(
            self.name,
            "tool",
            functools.partial(self.invoke, arguments, runner.clock),
            arguments=arguments,
            call_id=call_id,
            timeout=self.timeout,
        )

    async def invoke(self, arguments: Mapping[str, Any], clock: Clock) -> Any:
        """Run the function: async ones on the loop, sync ones in a worker thread (the loop stays
        free; a cancelled sync run is abandoned, since threads cannot be interrupted)."""
        if self.is_async:
            return await self.fn(**arguments)
        with clock.holding():
            return await anyio.to_thread.run_sync(
                functools.partial(self.fn, **arguments), abandon_on_cancel=True
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling a tool directly calls the function (handy in notebooks and tests)."""
        return self.fn(*args, **kwargs)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a :class:`Tool`. Use as ``@tool`` or ``@tool(timeout=30)``.

    The docstring is the description the model reads; annotate every parameter. Parameter
    descriptions come from the docstring's parameter section (Google ``Args:``, NumPy
    ``Parameters``, or reST ``:param x:``) or from ``Annotated[T, "description"]``.
    ``parameters`` gives the JSON schema yourself (kept as given; the function may then take
    ``**kwargs``).
    """

    def make(f: Callable[..., Any]) -> Tool:
        if isinstance(f, Tool):  # already a tool: decorating twice changes nothing
            return f
        tool_name = name or f.__name__
        doc = description or inspect.getdoc(f) or ""
        if not doc:
            raise ToolDefinitionError(f"tool {tool_name!r}: give it a docstring; it is what the model reads")
        if parameters is not None:
            return Tool(f, tool_name, doc, parameters, timeout)
        text, described = parse_docstring(doc) if description is None else (doc, {})
        return Tool(f, tool_name, text, _describe(f, tool_name, described), timeout)

    return make(fn) if fn is not None else make


@dataclass(frozen=True, eq=False)
class StartedTool(BaseTool):
    """A tool whose call starts something other than a function run (a timer, a sub-agent):
    ``starter`` starts it through the runner."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    starter: Starter
    timeout: float | None = None

    def start(self, runner: TaskRunner, arguments: dict[str, Any], call_id: str | None) -> BackgroundTask:
        return self.starter(runner, arguments, call_id)


def as_tool(obj: BaseTool | Callable[..., Any]) -> BaseTool:
    """Accept a tool or a plain function (decorated on the fly)."""
    return obj if isinstance(obj, BaseTool) else tool(obj)
