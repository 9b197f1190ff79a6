"""
The annotated camera frame (``qcoinf/annotated_image``): the frame with text drawn under it.

The frame is enlarged by an integer factor (nearest neighbour: every pixel stays exact) to at
least ``min_width`` pixels, so that text stays readable on the small frames a robot's model
uses, and a dark panel below holds the lines (the caption first, then the operating point),
word-wrapped to the image width. Drawn with OpenCV's Hershey font, which is ASCII only: other
characters are shown as ``?``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
PANEL_GREY = 32
CAPTION_RGB = (255, 255, 255)
TEXT_RGB = (190, 220, 255)


def _ascii(text: str) -> str:
    return ''.join(c if 32 <= ord(c) < 127 else '?' for c in str(text))


#: Most pixels of an annotated frame (an 8K frame); larger inputs raise ``ValueError``.
MAX_OUTPUT_PIXELS = 7680 * 4320
#: Longest text drawn [characters]; the rest is cut (a caption is ~10 words).
MAX_TEXT_CHARS = 2000


def _longest_fitting_prefix(word: str, fits) -> int:
    lo, hi = 1, len(word)  # bisection: fits() is monotone in the prefix length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(word[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


def wrap(text: str, width_px: int, scale: float, thickness: int = 1) -> list[str]:
    """
    Split ``text`` at spaces into lines no wider than ``width_px`` (long words are cut).

    At most :data:`MAX_TEXT_CHARS` characters are drawn, and a word wider than the image is cut
    by bisection: a 20,000-character word once took a time cubic in its length.
    """
    def fits(s: str) -> bool:
        return cv2.getTextSize(s, FONT, scale, thickness)[0][0] <= width_px

    text = str(text)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS - 3] + '...'
    lines: list[str] = []
    current = ''
    for word in _ascii(text).split(' '):
        candidate = f'{current} {word}' if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        while word and not fits(word):  # a word wider than the image: cut it
            cut = _longest_fitting_prefix(word, fits)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not lines:
        lines.append(current)
    return lines


def annotate(rgb: np.ndarray, lines: list[str], min_width: int = 480, scale: float = 0.5,
             margin: int = 8) -> np.ndarray:
    """
    Return the ``(H*k + panel, W*k, 3)`` uint8 RGB image: ``rgb`` enlarged ``k`` times, text below.

    ``k`` is the smallest integer with ``W*k >= min_width``; the first line is drawn white, the
    others light blue.
    """
    img = np.asarray(rgb)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or 0 in img.shape:
        raise ValueError(f'expected an (H, W, 3) uint8 image, got shape {img.shape} dtype '
                         f'{img.dtype}')
    if isinstance(min_width, bool) or not isinstance(min_width, int) or \
            not 1 <= min_width <= 8192:
        raise ValueError(f'min_width must be an integer in [1, 8192], got {min_width!r}')
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0.1 <= scale <= 10):
        raise ValueError(f'scale must be in [0.1, 10], got {scale!r}')
    k = max(1, math.ceil(min_width / img.shape[1]))
    if img.shape[0] * img.shape[1] * k * k > MAX_OUTPUT_PIXELS:  # before anything is allocated
        raise ValueError(f'a {img.shape[1]}x{img.shape[0]} frame enlarged {k} times would have '
                         f'more than {MAX_OUTPUT_PIXELS} pixels')
    big = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
    width = big.shape[1]
    (_, text_h), baseline = cv2.getTextSize('Ag', FONT, scale, 1)
    line_h = text_h + baseline + 4
    drawn = [(line, CAPTION_RGB if i == 0 else TEXT_RGB)
             for i, text in enumerate(lines)
             for line in wrap(text, width - 2 * margin, scale)]
    panel = np.full((2 * margin + line_h * max(1, len(drawn)), width, 3), PANEL_GREY, np.uint8)
    for i, (line, colour) in enumerate(drawn):
        cv2.putText(panel, line, (margin, margin + i * line_h + text_h), FONT, scale, colour, 1,
                    cv2.LINE_AA)
    return np.ascontiguousarray(np.vstack([big, panel]))
