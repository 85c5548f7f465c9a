"""The shapes world's own tokenizer: one token per word of the caption grammar, saved as a transformers tokenizer."""

from __future__ import annotations

from pathlib import Path

from .captions import NUMBERS, RELATIONS, plural
from .scenes import COLOURS, SHAPES

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
CONTEXT_LENGTH = 12  # the longest caption has 8 words, plus BOS and EOS


def vocabulary() -> list[str]:
    """Every word the grammar uses; EOS comes last so open_clip's argmax pooling finds it."""
    words = ["a", "and", "of"] + [w for relation in RELATIONS for w in relation.split()]
    words += list(NUMBERS) + list(COLOURS) + list(SHAPES) + [plural(s) for s in SHAPES]
    return [PAD, UNK, BOS] + sorted(set(words)) + [EOS]


def build_tokenizer():
    """A word-level ``PreTrainedTokenizerFast`` over the grammar (lower-cased, BOS/EOS added, padded with id 0)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK, bos_token=BOS,
                                   eos_token=EOS, model_max_length=CONTEXT_LENGTH)


def save_tokenizer(folder: Path) -> Path:
    """Write the tokenizer to ``folder`` (loadable with ``AutoTokenizer.from_pretrained``)."""
    build_tokenizer().save_pretrained(folder)
    return Path(folder)


def unknown_words(text: str) -> list[str]:
    """Words of ``text`` outside the vocabulary (the model would read them as UNK)."""
    known = set(vocabulary())
    return [word for word in text.lower().split() if word not in known]
