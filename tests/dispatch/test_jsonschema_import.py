"""Loading the agent's tools stays cheap: jsonschema comes without compiling the IRI grammar of
``rfc3987_syntax`` (seconds at import), and IRI format checks still work when someone uses them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

CHECK = """
import sys
import ipyagent.dispatch.tools
assert "rfc3987_syntax" not in sys.modules, "the IRI grammar was built at import"
import jsonschema
checker = jsonschema.FormatChecker()
print(checker.conforms("https://example.org/caf\\u00e9", "iri"), checker.conforms("no iri :: here", "iri"))
import rfc3987_syntax
print(rfc3987_syntax.__file__.endswith("__init__.py"))
"""


@pytest.mark.skipif(importlib.util.find_spec("rfc3987_syntax") is None, reason="rfc3987_syntax not installed")
def test_tools_import_without_the_iri_grammar_and_iri_checks_still_work() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "False", "True"]
