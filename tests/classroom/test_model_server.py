"""The classroom's model server caps every answer at ``--max-tokens``, whatever a client asks:
one student's agent cannot hold the shared server with an endless answer. Real llama.cpp server
with the embedded model on 127.0.0.1, reached through the official OpenAI SDK as the kernels do.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipyagent.classroom.hub import port_outside_ephemeral
from ipyagent.classroom.model_server import MODEL_NAME, ModelServer

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python[server]"
    ),
]

CAP = 6
LONG = [{"role": "user", "content": "Write a long story about a dragon who learns to cook."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    log = tmp_path_factory.mktemp("model-server") / "log"
    with ModelServer(port_outside_ephemeral(), log=Path(log), threads=2, max_tokens=CAP) as running:
        yield running


def test_no_answer_is_longer_than_the_cap(server: ModelServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.url, api_key="none", timeout=120, max_retries=0)
    # Not saying (llama.cpp would write until the context is full) and asking for more: the cap.
    for asked in (None, 200):
        extra = {} if asked is None else {"max_tokens": asked}
        reply = client.chat.completions.create(model=MODEL_NAME, messages=LONG, temperature=0, **extra)  # type: ignore[call-overload]
        assert reply.usage is not None
        assert reply.usage.completion_tokens == CAP, reply
        assert reply.choices[0].finish_reason == "length"
    # Asking for less than the cap is kept.
    reply = client.chat.completions.create(model=MODEL_NAME, messages=LONG, temperature=0, max_tokens=2)
    assert reply.usage is not None and reply.usage.completion_tokens == 2
    # A streamed answer (what the agents use) is cut at the cap too.
    stream = client.chat.completions.create(model=MODEL_NAME, messages=LONG, temperature=0, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert 0 < len(pieces) <= CAP
