"""How the local model is steered to a tool: which tools a request is about (shared words), and
the prompt styles that use it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, get_args

from ....ledger.render.context import Context, ToolSpec

PromptStyle = Literal["choose", "plain", "hybrid"]
PROMPT_STYLES: tuple[PromptStyle, ...] = get_args(PromptStyle)
"""How the local model is prompted when tools exist.

``plain``: the extended ChatML prompt; one constrained generation decides between text and
tool calls. ``choose`` (the default): the tool is decided first (see ``_pick_tool``: the tools
sharing words with the user's request, and a short constrained question to the model when that
leaves a choice); then the model writes either plain text, or that tool's arguments with the
call already opened. A 135M model left to decide mid-sentence almost never opens a tool call
(``bench/local_tools.py`` measures the styles). ``hybrid``: the model decides as in ``plain``
(what a model fine-tuned on asynchronous dialogues does well); the moment it names a tool, that
generation stops and the tool's arguments are written as in ``choose``, under a status block
without the clock, so that they come from the conversation.
"""

CHOOSE_QUESTION = "Which tool does what the user's last message asks? Answer with its name: {names}."


_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "what",
        "whats",
        "when",
        "where",
        "which",
        "who",
        "how",
        "are",
        "was",
        "were",
        "is",
        "it",
        "its",
        "can",
        "could",
        "would",
        "should",
        "will",
        "you",
        "your",
        "me",
        "my",
        "our",
        "please",
        "now",
        "then",
        "there",
        "their",
        "them",
        "they",
        "a",
        "an",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "be",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "any",
        "all",
        "some",
        "one",
        "give",
        "get",
        "make",
    ]
)


def stems(text: str) -> set[str]:
    """Content words of ``text``, lower-cased, with common English endings removed so that the
    forms of one word meet: note/notes, city/cities, plan/planning, save/saved, call/calling,
    class/classes, box/boxes."""
    out = set()
    for word in re.findall(r"[a-z]+", text.lower()):
        if len(word) < 3 or word in _STOPWORDS:
            continue
        for suffix in ("ies", "ing", "ed", "s"):
            if not word.endswith(suffix) or len(word) - len(suffix) < 3:
                continue
            if suffix == "s" and word.endswith(("ss", "us", "is")):  # class, status, analysis
                break
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            # planning -> plan, but calling -> call, passed -> pass
            if suffix in ("ing", "ed") and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
        if len(word) > 3 and word.endswith("e"):  # save/saved, note/notes, box/boxes
            word = word[:-1]
        out.add(word)
    return out


def tool_candidates(request: str, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
    """The tools the request is about, best first: those sharing a word with the tool's name,
    or two words with its description and parameter names (one common word such as "answer"
    or "task" is not enough). A tiny model picks far better from these than from every tool."""
    words = stems(request)
    scored = []
    for n, tool in enumerate(tools):
        named = words & stems(tool.name.replace("_", " "))
        described = words & stems(" ".join([tool.description, *tool.parameters.get("properties", {})]))
        if named or len(described) >= 2:
            scored.append((-(2 * len(named) + len(described)), n, tool))
    return [tool for _, _, tool in sorted(scored, key=lambda item: item[:2])]


# Words of a request about a result the agent already has, not a new run of the tool.
ABOUT_A_RESULT = re.compile(
    r"\b(returned|result|results|output|said|says|found|got|summari[sz]e|summary|reported)\b", re.IGNORECASE
)


def results_asked_about(
    request: str, tools: Sequence[ToolSpec], context: Context, candidates: Sequence[ToolSpec] | None = None
) -> set[str]:
    """The tools a request asks about whose result the context already holds ("summarise what
    slow_lookup returned"): reading that result beats running the tool again. ``candidates``:
    ``tool_candidates(request, tools)``, when the caller has it already."""
    if not ABOUT_A_RESULT.search(request):
        return set()
    if candidates is None:
        candidates = tool_candidates(request, tools)
    return answered_tools(context) & {t.name for t in candidates}


def answered_tools(context: Context) -> set[str]:
    """The tools whose result (or failure) is already in the context, shared or not."""
    return {
        e.name
        for e in context.entries
        if e.kind == "notification" and e.name and e.source not in ("tool_rejected", "model_error")
    }
