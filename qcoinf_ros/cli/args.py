"""Argument types shared by the ``qcoinf`` commands."""

from __future__ import annotations

import argparse

__all__ = ['parse_bit_widths']


def parse_bit_widths(text: str) -> list[int]:
    """``1-8`` or ``2,4,8`` (or a mix) -> a list of ints; ``ArgumentTypeError`` otherwise."""
    out = []
    for part in text.split(','):
        low, _, high = part.partition('-')
        try:
            out.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f'invalid bit-width list: "{text}"') from None
    return out
