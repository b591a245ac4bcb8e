"""Keeping a small model's output sane, token by token.

A 135M model, even inside a grammar, can loop (``"glass_glass_glass…"`` until the token limit,
``"I'm sorry for the error. I'm sorry for the error. …"``) or copy text it was only meant to read
(the status line with the time and the task list, or its own previous answer). The grammar
cannot forbid either, so :class:`OutputGuard` does, as a llama.cpp logits processor: before each
token it looks at what has been written so far and forbids the tokens that would

- start one more copy of a unit that already repeats (at most two copies of a unit of four or
  more characters, four of a shorter one; units without a letter, like ``000``, are free),
- continue a verbatim copy, already ``min_copy`` characters long, of a forbidden text, or of
  what it wrote earlier in the same output (a sentence said again after a few other words). Only
  what the model wrote counts: a prefix written for it (an answer's lead, "The word count
  result: ") is no copy, though an earlier answer began the same way.

The model then writes something else, usually the end of the string or of the sentence (when
the grammar allows nothing but banned tokens, the least bad of them: a ban is a large penalty, not
an impossibility, see :data:`BAN_PENALTY`). The guard keeps a count of what it stopped
(:attr:`OutputGuard.stopped`), which the backend reports. This module holds no llama.cpp
import: a token is just its text here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

_TAIL_TOKENS = 96  # how much of the output the guard looks at, in tokens
_MAX_UNIT = 64  # the longest repeating unit it looks for, in characters
# Taken off a banned token's logit: far more than the spread of a model's logits (tens), so a
# banned token comes after every allowed one, while the banned keep their order among themselves.
BAN_PENALTY = 10_000.0


def repeating_unit(text: str) -> str | None:
    """The unit ``text`` ends with too many copies of, or None. At most two copies of a unit of
    four or more characters, four of a shorter one; the unit must hold a letter."""
    for size in range(2, min(_MAX_UNIT, len(text) // 2) + 1):
        unit = text[-size:]
        if not any(c.isalpha() for c in unit):
            continue
        allowed = 2 if size >= 4 else 4
        if len(text) >= size * allowed and text.endswith(unit * allowed):
            return unit
    return None


class OutputGuard:
    """A logits processor for ``Llama.create_completion(logits_processor=...)``.

    ``pieces[i]`` is the text of token ``i``; ``prompt_tokens`` how many tokens the prompt has
    (what comes after it is the output); ``forbidden`` texts the output may not copy more than
    ``min_copy`` characters of in a row; ``prefix`` text the output is taken to begin with (a
    call opened on the model's behalf).
    """

    def __init__(
        self,
        pieces: Sequence[str],
        prompt_tokens: int,
        forbidden: Sequence[str] = (),
        *,
        min_copy: int = 20,
        prefix: str = "",
    ) -> None:
        self.pieces = pieces
        self.prompt_tokens = prompt_tokens
        self.forbidden = [f for f in forbidden if len(f) > min_copy]
        self.min_copy = min_copy
        self.prefix = prefix
        self.stopped: dict[str, int] = {"repetition": 0, "copy": 0}
        self._by_first: dict[str, list[int]] = defaultdict(list)
        for token, piece in enumerate(pieces):
            if piece:
                self._by_first[piece[0]].append(token)

    def output(self, input_ids: Sequence[int]) -> tuple[str, int]:
        """The output's tail, and where in it the model's own writing starts (after the prefix)."""
        generated = list(input_ids[self.prompt_tokens :])
        text = "".join(self.pieces[t] for t in generated[-_TAIL_TOKENS:] if 0 <= t < len(self.pieces))
        if len(generated) < _TAIL_TOKENS:
            return self.prefix + text, len(self.prefix)
        return text, 0

    def banned(self, text: str, written_from: int = 0) -> set[int]:
        """The tokens that may not come next after ``text``, the model's own from ``written_from``."""
        out: set[int] = set()
        unit = repeating_unit(text)
        if unit is not None:
            ahead = unit * 4
            out |= {t for t in self._by_first[unit[0]] if ahead.startswith(self.pieces[t])}
            if out:
                self.stopped["repetition"] += 1
        copying = self._copying(text, written_from)
        if copying:
            self.stopped["copy"] += 1
            out |= copying
        return out

    def _copying(self, text: str, written_from: int) -> set[int]:
        """Tokens that would continue a copy, written by the model, of a forbidden text or of the
        output itself."""
        out: set[int] = set()
        least = self.min_copy
        written = len(text) - written_from  # a copy lies within the model's own writing
        if written < least:
            return out
        for source, own in [*((f, False) for f in self.forbidden), (text, True)]:
            # Where the tail could have been copied from: for the output itself, earlier text only.
            limit = len(text) - 1 if own else len(source)
            if source.find(text[-least:], 0, limit) < 0:
                continue  # no copy of min_copy characters: the usual case, one search
            size = least
            while size < written and source.find(text[-(size + 1) :], 0, limit) >= 0:
                size += 1  # the longest copied tail decides
            tail = text[-size:]
            at = source.find(tail, 0, limit)
            while at >= 0:
                nxt = at + size
                if nxt < len(source):
                    out |= {t for t in self._by_first[source[nxt]] if source.startswith(self.pieces[t], nxt)}
                at = source.find(tail, at + 1, limit)
        return out

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        # A penalty, not -inf: llama.cpp applies the grammar after this processor, and when the
        # grammar allows only tokens banned here, one of them must still be chosen. Were they all
        # -inf, the sampler would pick a token the grammar does not allow, and llama.cpp aborts
        # the whole process ("Unexpected empty grammar stack"). So the least bad of them wins.
        for token in self.banned(*self.output(input_ids)):
            scores[token] -= BAN_PENALTY
        return scores
