"""The grammar the local model generates under: plain text can never contain "<", so the model
cannot open a role or a stray tag, however much it wants to."""

from __future__ import annotations

from typing import Any

import pytest

from ipyagent.dispatch.backends.local import ledger_message_grammar
from support.local_model import load_local_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm() -> Any:
    return load_local_model(n_ctx=256, seed=1)


def test_plain_text_cannot_contain_a_less_than_sign_even_when_the_model_prefers_it(llm: Any) -> None:
    import llama_cpp

    # Push the model hard towards every token holding a "<".
    vocab = range(llm.n_vocab())
    pushed = {t: 30.0 for t in vocab if b"<" in llm.detokenize([t])}
    assert len(pushed) >= 5
    prompt = "<|im_start|>user\nWrite some HTML.<|im_end|>\n<|im_start|>assistant\n"

    def generate(grammar: str | None) -> str:
        out = llm.create_completion(
            prompt,
            max_tokens=12,
            temperature=0.0,
            logit_bias=pushed,
            grammar=llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
        )
        return str(out["choices"][0]["text"])

    assert "<" in generate(None)  # unconstrained, the push works
    constrained = generate(ledger_message_grammar([]))
    assert constrained.strip()
    assert "<" not in constrained
