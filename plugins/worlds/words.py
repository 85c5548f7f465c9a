"""Word-level tokenizers of the embedded worlds: one token per word of a caption grammar, as transformers tokenizers."""

from __future__ import annotations

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"


def word_vocabulary(words: set[str] | list[str]) -> list[str]:
    """The special tokens and the sorted words; EOS comes last so open_clip's argmax pooling finds it."""
    return [PAD, UNK, BOS] + sorted(set(words)) + [EOS]


def word_tokenizer(vocab: list[str], context_length: int):
    """A word-level ``PreTrainedTokenizerFast`` over ``vocab`` (lower-cased, BOS/EOS added, padded with id 0)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    ids = {word: i for i, word in enumerate(vocab)}
    core = Tokenizer(WordLevel(ids, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, ids[BOS]), (EOS, ids[EOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK, bos_token=BOS,
                                   eos_token=EOS, model_max_length=context_length)


def unknown_in(text: str, vocab: list[str]) -> list[str]:
    """Words of ``text`` outside ``vocab`` (a model would read them as UNK)."""
    known = set(vocab)
    return [word for word in text.lower().split() if word not in known]


class Words:
    """A world's words: its tokenizer, saved with the model, and the check of a prompt's words."""

    def __init__(self, vocab: list[str], context_length: int, world: str):
        self.vocab, self.context_length, self.world = vocab, context_length, world

    def tokenizer(self):
        return word_tokenizer(self.vocab, self.context_length)

    def save(self, folder):
        """Write the tokenizer to ``folder`` (loadable with ``AutoTokenizer.from_pretrained``)."""
        from pathlib import Path

        self.tokenizer().save_pretrained(folder)
        return Path(folder)

    def unknown(self, text: str) -> list[str]:
        return unknown_in(text, self.vocab)

    def check(self, prompt: str) -> None:
        """Raise a UsageError naming the words of ``prompt`` the world's model never saw, and its words."""
        from noisesearch.plugin import UsageError

        unknown = self.unknown(prompt)
        if unknown:
            known = " ".join(w for w in self.vocab if not w.startswith("["))
            raise UsageError(f"prompt {prompt!r} has words the {self.world} model never saw: "
                             f"{', '.join(map(repr, unknown))}; its words are: {known}")
