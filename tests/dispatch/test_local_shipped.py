"""The fine-tuned adapter the package ships, on the real local model, offline: ``local`` applies
it by default, merges it into the model's weights once (showing it does) into the cache, loads the
merged file, and answers a question and drives a tool with it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from ipyagent import tool
from ipyagent.dispatch.backends import StatusChunk, TextChunk, ToolCallChunk
from ipyagent.dispatch.backends.local import LocalBackend, shipped_adapter_path
from ipyagent.ledger import Ledger
from ipyagent.ledger.render.context import Context
from support.local_model import needs_local_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), needs_local_model]
STATUS_WORDS = re.compile(r"UTC|Tasks:|Now:|\d\d:\d\d:\d\d|2026-")


@tool
async def word_count(text: str) -> int:
    "Count the words in a text."
    return len(text.split())


async def ask(backend: LocalBackend, text: str) -> list[Any]:
    ledger = Ledger("main")
    ledger.append("system", "You are a helpful assistant.", time=time.time())
    ledger.append("user", text, time=time.time())
    context = Context(entries=list(ledger), tools=[word_count.spec], now=time.time())
    with anyio.fail_after(300):
        return [c async for c in backend.stream(context, agent="main")]


async def test_the_shipped_adapter_is_merged_once_loaded_and_answers(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("IPYAGENT_CACHE", str(tmp_path))
    shipped = shipped_adapter_path()
    assert shipped is not None and shipped.stat().st_size < 20e6
    backend = LocalBackend(temperature=0)
    assert backend.adapter_path == shipped

    chunks = await ask(backend, "What is the capital of France? Answer in one sentence.")
    said = [c.text for c in chunks if isinstance(c, StatusChunk)]
    assert said[0].startswith(f"merging {shipped.name} into the local model, once")
    assert any(s.startswith("loading the local model ") and ".q8_0.gguf" in s for s in said), said
    merged = await anyio.to_thread.run_sync(lambda: list(tmp_path.glob("*.q8_0.gguf")))
    assert len(merged) == 1 and backend._llm.model_path == str(merged[0])
    answer = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert "Paris" in answer
    assert not STATUS_WORDS.search(answer)

    # A second backend finds the merged file: no second merge.
    again = await ask(LocalBackend(temperature=0), "Use word_count on 'the quick brown fox jumps'.")
    assert not any(isinstance(c, StatusChunk) and c.text.startswith("merging") for c in again)
    calls = [c.call for c in again if isinstance(c, ToolCallChunk)]
    assert [c.name for c in calls] == ["word_count"]
    assert isinstance(calls[0].arguments, dict)
    assert "quick brown fox" in calls[0].arguments["text"]
