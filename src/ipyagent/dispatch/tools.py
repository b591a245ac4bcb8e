"""Tools: plain Python callables (async or sync) that a model can call.

``@tool`` reads the signature and the docstring: parameter types become a JSON schema that the
model sees and that every call's arguments are validated against before the tool starts.
"""

from __future__ import annotations

import abc
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, overload

import anyio

from ..clock import Clock
from ..errors import ToolCallError, ToolDefinitionError
from ..ledger.render.context import ToolSpec
from .schema import Error, SchemaError, check_schema, checker

if TYPE_CHECKING:
    from .tasks import BackgroundTask, TaskRunner

# Starts one validated call through the runner: ``(runner, arguments, call_id) -> task``.
Starter = Callable[["TaskRunner", dict[str, Any], "str | None"], "BackgroundTask"]

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


def _describe(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot read its type hints: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {name!r}: *args/**kwargs cannot be described to a model")
        if param.name not in hints:
            raise ToolDefinitionError(f"tool {name!r}: parameter {param.name!r} needs a type annotation")
        prop = _schema_for(hints[param.name], f"tool {name!r}, parameter {param.name!r}")
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
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a :class:`Tool`. Use as ``@tool`` or ``@tool(timeout=30)``.

    The docstring is the description the model reads; annotate every parameter.
    """

    def make(f: Callable[..., Any]) -> Tool:
        if isinstance(f, Tool):  # already a tool: decorating twice changes nothing
            return f
        tool_name = name or f.__name__
        doc = description or inspect.getdoc(f) or ""
        if not doc:
            raise ToolDefinitionError(f"tool {tool_name!r}: give it a docstring; it is what the model reads")
        return Tool(f, tool_name, doc, _describe(f, tool_name), timeout)

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
