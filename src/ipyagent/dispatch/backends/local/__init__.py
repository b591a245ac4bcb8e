"""``local``: the embedded default. SmolLM2-135M-Instruct on llama.cpp, no key, no network.

``backend.py`` runs the model; ``grammar.py`` holds the grammars that keep its output a valid
ledger message; ``choice.py`` decides which tools a request is about. llama-cpp-python is
imported only when a model loads or a grammar with tools is built.
"""

import os

# llama.cpp's OpenMP threads spin while they wait for work unless told to sleep. On two cores
# shared with anything else (the kernel's voice pipeline, a second kernel, other users) the
# spinning threads take the cores from the very thread they wait for: a 64-token answer took
# 58 s instead of 6.9 s alone on a busy machine, and two processes at once did not finish in 13
# minutes (bench/omp_wait.py). OpenMP reads the policy once, when llama.cpp's library loads, so
# it is set here, before anything of ipyagent imports llama_cpp; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .backend import LocalBackend, default_model_path, shipped_adapter_path
from .choice import PROMPT_STYLES, PromptStyle, tool_candidates
from .grammar import ledger_message_grammar

__all__ = [
    "PROMPT_STYLES",
    "LocalBackend",
    "PromptStyle",
    "default_model_path",
    "ledger_message_grammar",
    "shipped_adapter_path",
    "tool_candidates",
]
