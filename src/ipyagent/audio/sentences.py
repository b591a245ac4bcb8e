"""Cut streaming text into sentences, so speech can start before the whole answer is known.

:class:`SentenceChunker` takes text as it streams and hands out each sentence the moment it is
complete (its end mark and the following space have arrived). Decimal numbers, common
abbreviations and initials do not end a sentence. "No." and "etc." are judged by what follows:
"No. 5" and "etc. and more" go on, "No. It's sunny." and "etc. Then" end there. A very long run
without an end mark is cut at a comma or, failing that, a space, so the first audio never waits
for a whole paragraph. With ``first_clause_words``, the first piece of an answer ends at its first
comma once it has that many words, so the first audio waits for a clause rather than a sentence.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "approx"}
    | {"fig", "dept", "mt", "ft", "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug"}
    | {"sep", "sept", "oct", "nov", "dec"}
)
# An end mark (with closing quotes/brackets) followed by whitespace, or a line break.
# Words that end a sentence or not depending on the next word: "No. 5" / "No. It is".
_DEPENDS = frozenset({"no", "etc"})
_BOUNDARY = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|[;:](?=\s)|\n+")


class SentenceChunker:
    """``feed(text)`` returns the sentences completed so far; ``flush()`` returns the rest."""

    def __init__(self, max_chars: int = 200, first_max_chars: int = 80, first_clause_words: int = 0) -> None:
        self.max_chars = max_chars
        self.first_max_chars = first_max_chars
        self.first_clause_words = first_clause_words
        self._buffer = ""
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            sentence, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if sentence.strip():
                out.append(sentence)
                self._emitted += 1
            else:  # whitespace only: keep it with the next sentence
                self._buffer = sentence + self._buffer
                break
        return out

    def flush(self) -> str:
        rest, self._buffer = self._buffer, ""
        return rest

    @property
    def pending(self) -> str:
        return self._buffer

    def _next_cut(self) -> int | None:
        sentence = self._sentence_cut()
        if self._emitted == 0 and self.first_clause_words:
            buf = self._buffer
            for m in re.finditer(r",\s", buf[:sentence]):
                if len(buf[: m.start()].split()) >= self.first_clause_words:
                    return m.end()
        return sentence

    def _sentence_cut(self) -> int | None:
        buf = self._buffer
        for m in _BOUNDARY.finditer(buf):
            end = m.end()
            if m.group().startswith(".") and len(m.group()) == 1:
                verdict = self._not_an_end(buf, m.start())
                if verdict is None:
                    return None  # decided by the next word, which has not arrived yet
                if verdict:
                    continue
            if not buf[:end].strip():
                continue
            # Include the whitespace that follows, so pieces join back to the original text.
            while end < len(buf) and buf[end] in " \t\n":
                end += 1
            return end
        limit = self.first_max_chars if self._emitted == 0 else self.max_chars
        if len(buf) > limit:
            window = buf[:limit]
            for sep in (", ", " "):
                at = window.rfind(sep)
                if at > limit // 3:
                    return at + len(sep)
        return None

    @staticmethod
    def _not_an_end(buf: str, dot: int) -> bool | None:
        word = re.search(r"([\w.]+)$", buf[:dot])
        if word is None:
            return False
        w = word.group(1).lower()
        if w in _ABBREVIATIONS:
            return True
        if w in _DEPENDS:
            after = re.match(r"\s*(\S)", buf[dot + 1 :])
            if after is None:
                return None
            following = after.group(1)
            return following.isdigit() if w == "no" else following.islower()
        return len(w) == 1 and w.isalpha() and buf[dot - 1].isupper()  # an initial: "J. Smith"


def split_words(text: str) -> list[str]:
    """Words with their surrounding spaces; joined they give back ``text``."""
    return re.findall(r"\s*\S+\s*|\s+", text)
