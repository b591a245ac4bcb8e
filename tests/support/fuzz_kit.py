"""What the property-based tests share: hostile inputs, the settings that size a run, and the
checks every user-facing error must pass.

The number of examples per property comes from ``IPYAGENT_FUZZ_EXAMPLES`` (default: a small CI
run); ``bench/fuzz.py`` runs the same properties with many more and reports what it tried.
"""

from __future__ import annotations

import functools
import os
import string
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ipyagent.ledger import ENTRY_KINDS, Entry

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = int(os.environ.get("IPYAGENT_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# Properties that start an agent or write a file: a fifth of the examples.
FUZZ_SLOW = settings(FUZZ, max_examples=max(10, EXAMPLES // 5))

# Inputs tried per target (bench/fuzz.py prints them).
TRIED: Counter[str] = Counter()


def target(name: str) -> Callable[[F], F]:
    """Count each input a property is given under ``name``."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            TRIED[name] += 1
            return fn(*args, **kwargs)

        counted.fuzz_target = name  # type: ignore[attr-defined]
        return counted  # type: ignore[return-value]

    return wrap


# --- hostile text -----------------------------------------------------------------------------

NASTY = [
    "\x00",
    "\x1b[31m",
    "\x07",
    "\ud800",  # a lone surrogate: valid in a Python str (and in a browser's JSON), not in UTF-8
    "\udfff",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\r\n",
    "\n",
    "\t",
    "\x85",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</pre></details>",
    "&amp;&lt;",
    '"',
    "'",
    "<|im_start|>system\n",
    "<|im_end|>",
    "<|interrupt|>",
    "<tool_call>",
    "{",
    "}",
    "{0}",
    "{x.y}",
    "%s",
    "--",
    "--wait",
    "--timeout",
    "é",
    "日本語",
    "\U0001f600",
    " ",
    "\\",
    "NaN",
    "null",
]

texts = st.lists(
    st.one_of(st.text(max_size=12), st.sampled_from(NASTY), st.characters().map(str)), max_size=12
).map("".join)
huge_texts = st.builds(lambda n, c: c * n, st.integers(5_000, 100_000), st.sampled_from(["x", "é\n", "<"]))
any_text = st.one_of(*[texts] * 7, huge_texts)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=20,
)
# What Python's json module also reads: NaN and the infinities.
loose_json_values = st.recursive(
    st.one_of(json_scalars, st.floats()),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=20,
)

times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
# Cheaper hostile strings for the many small fields of an entry.
short_texts = st.one_of(st.text(max_size=10), st.sampled_from(NASTY))
optional_text = st.none() | short_texts
small_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), short_texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(short_texts, inner, max_size=3)),
    max_leaves=6,
)
json_objects = st.dictionaries(short_texts, small_json, max_size=4)
usages = st.dictionaries(
    st.sampled_from(["input_tokens", "output_tokens", "first_token_seconds", "total_seconds"]) | short_texts,
    small_json | st.floats(allow_nan=False),
    max_size=4,
)


@st.composite
def entries(draw: st.DrawFn, index: int = 0) -> Entry:
    """Any entry a ledger could hold, with hostile content in every field."""
    return Entry(
        draw(st.sampled_from(sorted(ENTRY_KINDS))),  # type: ignore[arg-type]
        draw(any_text),
        time=draw(times),
        index=index,
        name=draw(optional_text),
        call_id=draw(optional_text),
        task_id=draw(optional_text),
        arguments=draw(st.none() | json_objects),
        status=draw(
            st.none() | st.sampled_from(["complete", "interrupted", "incomplete", "started"]) | short_texts
        ),
        source=draw(
            st.none() | st.sampled_from(["tool_result", "tool_error", "timer", "cell"]) | short_texts
        ),
        generation=draw(st.none() | st.integers(0, 10**6)),
        usage=draw(st.none() | usages),
    )


@st.composite
def entry_lists(draw: st.DrawFn, max_size: int = 8) -> list[Entry]:
    n = draw(st.integers(0, max_size))
    return [draw(entries(index=i)) for i in range(n)]


# --- what a user may be shown -----------------------------------------------------------------

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def assert_one_line(message: str, limit: int = 600) -> None:
    """A user-facing error: one line, bounded, no raw control characters, and not empty."""
    assert message.strip(), "an empty error message"
    assert not any(c in message for c in LINE_BREAKS), f"more than one line: {message!r}"
    assert all(c.isprintable() or c == "\t" for c in message), f"control characters in {message!r}"
    assert len(message) <= limit, f"{len(message)} characters: {message[:200]!r}..."


class TagCollector(HTMLParser):
    """The element names an HTML document opens."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


def tags_of(document: str) -> TagCollector:
    parser = TagCollector()
    parser.feed(document)
    parser.close()
    return parser


def printable_ascii(min_size: int = 1, max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(string.ascii_letters + string.digits + "_-.", min_size=min_size, max_size=max_size)
