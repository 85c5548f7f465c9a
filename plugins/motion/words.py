"""The motion world's own tokenizer: one token per word of the caption grammar."""

from __future__ import annotations

from noisesearch_plugins.worlds.words import Words, word_vocabulary

from .captions import COLOURS, DIRECTIONS, SHAPES, SPEEDS, VERBS, plural

CONTEXT_LENGTH = 10  # the longest caption has 6 words, plus BOS and EOS


def vocabulary() -> list[str]:
    """Every word the grammar uses, with the special tokens (EOS last)."""
    words = ["a", "two", "moving", "apart", "together", "standing", "still"] + list(DIRECTIONS) + list(VERBS)
    words += list(SPEEDS) + list(COLOURS) + list(SHAPES) + [plural(s) for s in SHAPES]
    return word_vocabulary(words)


WORDS = Words(vocabulary(), CONTEXT_LENGTH, "motion")
build_tokenizer, save_tokenizer, unknown_words = WORDS.tokenizer, WORDS.save, WORDS.unknown
