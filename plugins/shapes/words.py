"""The shapes world's own tokenizer: one token per word of the caption grammar, saved as a transformers tokenizer."""

from __future__ import annotations

from .captions import NUMBERS, RELATIONS, plural
from .scenes import COLOURS, SHAPES

from noisesearch_plugins.worlds.words import BOS, EOS, PAD, UNK, Words, word_vocabulary  # noqa: F401 (detector)

CONTEXT_LENGTH = 12  # the longest caption has 8 words, plus BOS and EOS


def vocabulary() -> list[str]:
    """Every word the grammar uses, with the special tokens (EOS last)."""
    words = ["a", "and", "of"] + [w for relation in RELATIONS for w in relation.split()]
    words += list(NUMBERS) + list(COLOURS) + list(SHAPES) + [plural(s) for s in SHAPES]
    return word_vocabulary(words)


WORDS = Words(vocabulary(), CONTEXT_LENGTH, "shapes")
build_tokenizer, save_tokenizer, unknown_words = WORDS.tokenizer, WORDS.save, WORDS.unknown
