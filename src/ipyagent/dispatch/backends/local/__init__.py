"""``local``: the embedded default. SmolLM2-135M-Instruct on llama.cpp, no key, no network.

``backend.py`` runs the model; ``grammar.py`` holds the grammars that keep its output a valid
ledger message; ``choice.py`` decides which tools a request is about. llama-cpp-python is
imported only when a model loads or a grammar with tools is built.
"""

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
