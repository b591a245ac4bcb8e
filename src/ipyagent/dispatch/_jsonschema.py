"""``jsonschema``, imported without its slowest optional part.

At import, jsonschema registers a format checker for each optional library it finds. With
``rfc3987_syntax`` installed (``jsonschema[format-nongpl]``, which Jupyter Server requires, so it
is there in most Jupyter environments) that import compiles an Earley grammar: seconds of CPU
on every kernel's first ``%agent``, for checks the agent never makes. So jsonschema is imported
with a stand-in for that library whose one function imports the real one the first time an IRI
is checked: every format check behaves as before, and only a user who checks IRIs pays, once.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

SLOW = "rfc3987_syntax"


def _stand_in() -> types.ModuleType:
    module = types.ModuleType(
        SLOW, "Stand-in while jsonschema is imported; see ipyagent.dispatch._jsonschema"
    )

    def is_valid_syntax(term: str, value: str) -> bool:
        if sys.modules.get(SLOW) is module:
            del sys.modules[SLOW]
        real = importlib.import_module(SLOW)
        return bool(real.is_valid_syntax(term, value))

    module.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    return module


def _needs_stand_in() -> bool:
    return (
        "jsonschema" not in sys.modules
        and SLOW not in sys.modules
        and importlib.util.find_spec(SLOW) is not None
    )


_installed = _stand_in() if _needs_stand_in() else None
if _installed is not None:
    sys.modules[SLOW] = _installed
try:
    import jsonschema
finally:
    # Invariant: from here on, importing the library gives the real one.
    if _installed is not None and sys.modules.get(SLOW) is _installed:
        del sys.modules[SLOW]

__all__ = ["jsonschema"]
