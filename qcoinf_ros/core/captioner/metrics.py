"""
Caption quality: CIDEr-D (pycocoevalcap) and the exact-match rate, on normalised text.

Candidates and references are normalised the same way before scoring (lower case, every
character other than a letter, digit or space replaced by a space, whitespace collapsed) instead
of COCO's PTBTokenizer, which needs Java. CIDEr is reported x100, the usual scale of papers
(the paper's tables); its document frequencies come from the references of the evaluated set,
so a score is only comparable between runs on the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Mapping, Sequence

import numpy as np

__all__ = ['normalize_caption', 'CaptionScores', 'cider_score', 'exact_match_rate',
           'score_captions']

_NOT_WORD = re.compile(r'[^\w\s]|_')


def normalize_caption(text: str) -> str:
    """Lower-case ``text``, strip punctuation and join its words with single spaces."""
    if not isinstance(text, str):
        raise ValueError(f'caption must be a string, got {type(text).__name__}')
    return ' '.join(_NOT_WORD.sub(' ', text.lower()).split())


def _check(candidates: Mapping, references: Mapping):
    if set(candidates) != set(references):
        missing = sorted(set(references) ^ set(candidates), key=str)[:5]
        raise ValueError(f'candidates and references must have the same ids, these differ: '
                         f'{missing}')
    if not candidates:
        raise ValueError('no captions to score (candidates is empty)')
    for key, refs in references.items():
        if isinstance(refs, str) or not refs:
            raise ValueError(f'references of {key!r} must be a non-empty list of strings')


def cider_score(candidates: Mapping[int, str],
                references: Mapping[int, Sequence[str]]) -> tuple[float, np.ndarray]:
    """
    CIDEr-D x100 of ``candidates`` against ``references`` (both keyed by image id).

    Returns the corpus score and the per-image scores (in sorted id order), both x100.
    Needs at least two images: the document frequencies of a single image make every n-gram
    weightless.
    """
    from pycocoevalcap.cider.cider import Cider
    _check(candidates, references)
    if len(candidates) < 2:
        raise ValueError(f'CIDEr needs at least 2 images, got {len(candidates)}')
    ids = sorted(candidates)
    res = {i: [normalize_caption(candidates[i])] for i in ids}
    gts = {i: [normalize_caption(r) for r in references[i]] for i in ids}
    score, per_image = Cider().compute_score(gts, res)
    return 100.0 * float(score), 100.0 * np.asarray(per_image, dtype=np.float64)


def exact_match_rate(candidates: Mapping[int, str],
                     references: Mapping[int, Sequence[str]]) -> float:
    """Share of images whose caption equals one of its references (after normalisation)."""
    _check(candidates, references)
    hits = [normalize_caption(candidates[i]) in {normalize_caption(r) for r in references[i]}
            for i in candidates]
    return float(np.mean(hits))


@dataclass(frozen=True)
class CaptionScores:
    """CIDEr-D (x100) and exact-match rate of a set of captions, over ``count`` images."""

    cider: float
    exact_match: float
    count: int

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return {'cider': self.cider, 'exact_match': self.exact_match, 'count': self.count}


def score_captions(candidates: Mapping[int, str],
                   references: Mapping[int, Sequence[str]]) -> CaptionScores:
    """CIDEr-D x100 and exact-match rate of ``candidates`` (keyed like ``references``)."""
    cider, _ = cider_score(candidates, references)
    return CaptionScores(cider, exact_match_rate(candidates, references), len(candidates))
