"""The local model's OpenMP threads sleep when idle (``OMP_WAIT_POLICY=PASSIVE``) unless the user
chose otherwise: set before llama.cpp's library loads, in a fresh process as a kernel is."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import os, sys; import ipyagent.dispatch.backends.local; "
    "import llama_cpp; print(os.environ.get('OMP_WAIT_POLICY'))"
)


@pytest.mark.parametrize(("given", "seen"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_unless_the_user_says_otherwise(given: str | None, seen: str) -> None:
    pytest.importorskip("llama_cpp")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert probe.stdout.strip() == seen
