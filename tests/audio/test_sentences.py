from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ipyagent.audio import SentenceChunker
from ipyagent.audio.sentences import split_words


def stream(text: str, step: int) -> tuple[list[str], str]:
    chunker = SentenceChunker()
    out = []
    for i in range(0, len(text), step):
        out += chunker.feed(text[i : i + step])
    return out, chunker.flush()


def test_sentences_come_out_as_soon_as_they_end() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("It is sunny in Paris") == []
    assert chunker.feed(".") == []  # the end mark needs the space after it ("3.5")
    assert chunker.feed(" Tomorrow it rains") == ["It is sunny in Paris. "]
    assert chunker.feed("! Bring an umbrella?\n") == ["Tomorrow it rains! ", "Bring an umbrella?\n"]
    assert chunker.flush() == ""


def test_numbers_abbreviations_and_initials_do_not_end_a_sentence() -> None:
    text = "It is 3.5 degrees warmer, e.g. near Mt. Blanc, says Dr. J. Smith. Next."
    out, rest = stream(text, 3)
    assert out == ["It is 3.5 degrees warmer, e.g. near Mt. Blanc, says Dr. J. Smith. "]
    assert rest == "Next."


def test_a_long_first_sentence_is_cut_at_a_comma() -> None:
    text = "Well, " + "the itinerary covers the museums, the river walks and the old markets, " * 3
    out, _ = stream(text, 5)
    assert out, "no chunk came out of a long sentence"
    assert len(out[0]) <= 80
    assert out[0].endswith(", ")


@given(st.text(alphabet=st.sampled_from("ab .!?,\n3"), max_size=300), st.integers(1, 7))
def test_chunks_join_back_to_the_text(text: str, step: int) -> None:
    out, rest = stream(text, step)
    assert "".join(out) + rest == text
    assert all(s.strip() for s in out)


def test_split_words_keeps_spaces() -> None:
    assert split_words("a  bc d ") == ["a  ", "bc ", "d "]


def test_no_and_etc_end_a_sentence_unless_the_next_word_continues_it() -> None:
    out, rest = stream("No. It's sunny. Bring No. 5 and pens, etc. and paper, etc. Then go.", 4)
    assert out == ["No. ", "It's sunny. ", "Bring No. 5 and pens, etc. and paper, etc. "]
    assert rest == "Then go."
    chunker = SentenceChunker()
    assert chunker.feed("No. ") == []  # "No. 5" or "No. It is": the next word decides
    assert chunker.feed("It") == ["No. "]


def test_the_first_clause_can_be_the_first_piece() -> None:
    chunker = SentenceChunker(first_clause_words=4)
    text = "Yes, the weather in Paris is sunny, with a light breeze, all day. Bring a hat, too."
    out = []
    for i in range(0, len(text), 3):
        out += chunker.feed(text[i : i + 3])
    out.append(chunker.flush())
    # "Yes," is too short to say alone; the first clause of four words or more goes first.
    assert out == [
        "Yes, the weather in Paris is sunny, ",
        "with a light breeze, all day. ",
        "Bring a hat, too.",
    ]
