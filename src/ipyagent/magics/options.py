"""Magic options. Each magic declares its options with IPython's ``magic_arguments`` decorators,
so ``%magic?`` shows them; this module parses a line against those declarations so that

- a mistake is one line saying what was wrong and how the magic is used (an IPython
  ``UsageError``, never argparse's ``SystemExit``), and
- free text after the options (``%agent``'s message, ``%model``'s spec) is kept exactly as typed:
  the line is cut into words at whitespace only to find where the options end; quotes,
  apostrophes and ``--`` inside the text are never re-read.

Options come first; the free text is the rest. A leading ``--`` word ends the options, so a
message may itself start with a dash: ``%agent -- --wait is a flag?``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from IPython.core import magic_arguments as _declare
from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser

from ..errors import IpyagentError, one_line

__all__ = [
    "argument", "help_text", "kwds", "magic_arguments", "magic_options", "one_line_errors", "parse",
    "parse_words", "seconds", "usage",
]  # fmt: skip

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def magic_options(*arguments: Callable[[Any], Any], name: str | None = None) -> Callable[[F], F]:
    """A magic's options: IPython's ``@argument``s, in the order its help lists them (see
    :func:`magic_arguments` for ``name``); and any failure of the magic becomes one line.

    The parser is built when it is first needed (the magic is used, or ``%magic?`` asked):
    building all of them when the extension loads would add to the kernel's start. ``%magic?``
    gets the help through ``getdoc()``, which IPython asks an object for before its docstring."""

    def declare(magic: F) -> F:
        wrapped = one_line_errors(magic)

        @functools.cache
        def build() -> MagicArgumentParser:
            def stand_in() -> None:  # what IPython's decorators mark; it carries the help after
                pass

            stand_in.__name__, stand_in.__doc__ = magic.__name__, magic.__doc__
            for add in reversed(arguments):  # as if stacked above the method, the first on top
                add(stand_in)
            parser: MagicArgumentParser = magic_arguments(name)(stand_in).parser  # type: ignore[attr-defined]
            return parser

        wrapped.magic_parser = build  # type: ignore[attr-defined]
        wrapped.getdoc = lambda: build().format_help()  # type: ignore[attr-defined]
        return wrapped

    return declare


def one_line_errors(fn: F) -> F:
    """Turn any failure of a magic into a one-line UsageError (the details go to the log)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UsageError, IpyagentError) as exc:
            raise UsageError(one_line(str(exc), 400)) from None
        except Exception as exc:
            log.exception("ipyagent magic %s failed", fn.__name__)
            raise UsageError(one_line(f"ipyagent: {type(exc).__name__}: {exc}", 400)) from None

    return wrapper  # type: ignore[return-value]


_WORD = re.compile(r"\S+")


def magic_arguments(name: str | None = None) -> Callable[[F], F]:
    """IPython's ``@magic_arguments()`` (builds the parser and the ``%magic?`` help), typed.
    ``name``: the magic's name in usage and errors, when not the method's (``%fork`` for the
    cell magic ``%%fork``: the usage line adds the first ``%``)."""
    return cast(Callable[[F], F], _declare.magic_arguments(name))  # type: ignore[no-untyped-call]


def kwds(**settings: Any) -> Callable[[F], F]:
    """IPython's ``@kwds(...)``: settings of the parser itself (``usage=...``)."""
    return cast(Callable[[F], F], _declare.kwds(**settings))  # type: ignore[no-untyped-call]


def argument(*names: str, **settings: Any) -> Callable[[F], F]:
    """IPython's ``@argument(...)``: one option or positional, as ``add_argument`` takes it."""
    return cast(Callable[[F], F], _declare.argument(*names, **settings))  # type: ignore[no-untyped-call]


def parser_of(magic: Callable[..., Any]) -> MagicArgumentParser:
    """The parser of ``magic``'s declared options (a magic method, bound or not)."""
    build = getattr(magic, "magic_parser", None)
    parser = build() if build is not None else None
    if not isinstance(parser, MagicArgumentParser):
        raise TypeError(f"{getattr(magic, '__name__', magic)!r} has no @magic_options(...)")
    return parser


def parse(
    magic: Callable[..., Any], line: str, *, text: str | None = None, hint: str | None = None
) -> argparse.Namespace:
    """Parse ``line`` against ``magic``'s declared options. ``text`` names the positional
    (``nargs=argparse.REMAINDER``) that takes the rest of the line: it becomes that part of
    ``line`` as typed (a ``str``, ``""`` when there is none)."""
    words = list(_WORD.finditer(line))
    args = parse_words(magic, [w.group() for w in words], hint=hint)
    if text is not None:
        taken: list[str] = getattr(args, text)
        start = _start_of(taken, [w.group() for w in words])
        if start < len(words) and words[start].group() == "--":
            start += 1  # the end-of-options marker is not part of the text
        setattr(args, text, line[words[start].start() :].strip() if start < len(words) else "")
    return args


def parse_words(
    magic: Callable[..., Any], words: Sequence[str], *, hint: str | None = None, where: str | None = None
) -> argparse.Namespace:
    """Parse words already split (``%mcp`` splits like a shell, for its commands' arguments)."""
    parser = parser_of(magic)
    parser.allow_abbrev = False  # ``--wai`` is a mistake, not ``--wait``
    try:
        return parser.parse_args(list(words))
    except UsageError as exc:
        if usage(magic) == f"%{parser.prog}":  # nothing declared: any word is too many
            raise UsageError(f"%{parser.prog} takes no arguments") from None
        about, wrong = _plain(str(exc))
        where = " ".join(filter(None, (where or parser.prog, about)))
        # The words are the user's: a control character in one is shown escaped, not printed.
        raise UsageError(one_line(f"%{where}: {wrong}; {hint or 'usage: ' + usage(magic)}", 500)) from None


def usage(magic: Callable[..., Any]) -> str:
    """The magic's usage on one line: ``%voice [--tts piper|espeak|gtts]``."""
    return " ".join(parser_of(magic).format_usage().removeprefix("::").split())


def help_text(magic: Callable[..., Any]) -> str:
    """The help ``%magic?`` shows (description and options), as plain text."""
    text = parser_of(magic).format_help().removeprefix("::\n\n  ")
    return "usage: " + text.strip() + "\n"


def seconds(text: str) -> float:
    """An argparse ``type``: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number of seconds, such as 60, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, got {text!r}")
    return value


def _start_of(taken: list[str], words: list[str]) -> int:
    """Index in ``words`` of the first word of ``taken``, its tail. (Matched from the end, as
    argparse may drop a ``--`` word from what it hands on.)"""
    i = len(words)
    for word in reversed(taken):
        i -= 1
        while i >= 0 and words[i] != word:  # a "--" argparse dropped
            i -= 1
    return max(i, 0) if taken else len(words)


_ARGUMENT = re.compile(r"^argument ([^:]+): (.*)$", re.S)


def _plain(message: str) -> tuple[str, str]:
    """argparse's wording, shortened for one line: (the option it is about or "", what is wrong)."""
    if message.startswith("unrecognized arguments: "):
        extra = message.removeprefix("unrecognized arguments: ").split()
        options = [w for w in extra if w.startswith("-")]
        if options:
            return "", f"unknown option {options[0]}"
        return "", (f"unexpected {extra[0]!r}" if extra else message)
    if message.startswith("the following arguments are required: "):
        return "", "missing " + message.removeprefix("the following arguments are required: ")
    about = _ARGUMENT.match(message)
    if about:
        return about.group(1).split("/")[-1], about.group(2)
    return "", message
