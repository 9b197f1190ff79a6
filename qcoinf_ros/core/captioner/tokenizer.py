"""
The captioner's tokenizer: a word-level vocabulary over the scene captions, built in code.

Built with the ``tokenizers`` library (``WordLevel`` model, lower-casing and punctuation-
stripping normaliser, whitespace split) and wrapped as a transformers fast tokenizer with
BERT's special tokens, as GIT expects: ``[CLS] words [SEP]``, ``[PAD]`` = 0. GIT generation
starts from ``bos_token_id`` (``[CLS]``) and stops at ``eos_token_id`` (``[SEP]``).
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import normalizers, pre_tokenizers, processors, Regex, Tokenizer
from tokenizers.models import WordLevel

from qcoinf_ros.core.scenes.generator import caption_vocabulary

__all__ = ['SPECIAL_TOKENS', 'build_tokenizer', 'scene_tokenizer']

SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]')


def build_tokenizer(words: Iterable[str]):
    """
    Build a ``PreTrainedTokenizerFast`` over ``words`` (ids 0-3 are the special tokens).

    Text is lower-cased and every character other than a letter, digit or space becomes a
    space before splitting on whitespace, so ``'A red circle.'`` and ``'a red circle'`` encode
    alike; unknown words map to ``[UNK]``.
    """
    from transformers import PreTrainedTokenizerFast
    words = list(dict.fromkeys(str(w) for w in words))
    bad = [w for w in words if not w or not w.isalnum() or w != w.lower() or w in SPECIAL_TOKENS]
    if bad or not words:
        raise ValueError(f'words must be non-empty lower-case alphanumeric words, got {bad!r}')
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    core = Tokenizer(WordLevel(vocab, unk_token='[UNK]'))
    core.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Lowercase(),
        normalizers.Replace(Regex(r'[^a-z0-9\s]'), ' ')])
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    specials = [(token, vocab[token]) for token in ('[CLS]', '[SEP]')]
    core.post_processor = processors.TemplateProcessing(single='[CLS] $A [SEP]',
                                                        special_tokens=specials)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token='[PAD]', unk_token='[UNK]', cls_token='[CLS]',
        sep_token='[SEP]', bos_token='[CLS]', eos_token='[SEP]',
        model_input_names=['input_ids', 'attention_mask'])


def scene_tokenizer():
    """Return the tokenizer over the scene-caption vocabulary (:func:`caption_vocabulary`)."""
    return build_tokenizer(caption_vocabulary())
