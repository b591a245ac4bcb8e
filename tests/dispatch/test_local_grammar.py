"""The grammar the local model generates under: plain text can never contain "<", so the model
cannot open a role or a stray tag, however much it wants to."""

from __future__ import annotations

import subprocess
import sys
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


GUARD_AGAINST_GRAMMAR = """
from llama_cpp import Llama, LlamaGrammar, LogitsProcessorList
from ipyagent.dispatch.backends.guard import OutputGuard
from ipyagent.dispatch.backends.local import default_model_path

llm = Llama(str(default_model_path()), n_ctx=256, seed=1, verbose=False)
forced = "the quick brown fox jumps over the lazy dog again"
pieces = [llm.detokenize([t]).decode("utf-8", "replace") for t in range(llm.n_vocab())]
prompt = "Say something."
guard = OutputGuard(pieces, len(llm.tokenize(prompt.encode(), special=True)), [forced])
out = llm.create_completion(
    prompt, max_tokens=40, temperature=0.0, logits_processor=LogitsProcessorList([guard]),
    grammar=LlamaGrammar.from_string(f'root ::= "{forced}"', verbose=False),
)
print(repr(out["choices"][0]["text"]), guard.stopped["copy"])
"""


def test_the_output_guard_and_a_grammar_that_forces_a_copy_do_not_abort_the_process() -> None:
    """Only the grammar's text may be written, and the guard bans copying it: llama.cpp must still
    get a token the grammar allows (it aborts the whole process, a kernel too, when it does not)."""
    load_local_model(vocab_only=True)  # skips when the model is not installed
    code = [sys.executable, "-c", GUARD_AGAINST_GRAMMAR]
    run = subprocess.run(code, capture_output=True, text=True, timeout=300)
    why = [line for line in run.stderr.splitlines() if "what()" in line]
    assert run.returncode == 0, f"the process died ({run.returncode}): {why or run.stderr[-300:]}"
    text, banned = run.stdout.rsplit(" ", 1)
    assert text == repr("the quick brown fox jumps over the lazy dog again") and int(banned) > 0
