"""Argument types shared by the ``qcoinf`` commands."""

from __future__ import annotations

import argparse

__all__ = ['add_device_arguments', 'config_from_args', 'parse_bit_widths']


def parse_bit_widths(text: str) -> list[int]:
    """``1-8`` or ``2,4,8`` (or a mix) -> a list of ints; ``ArgumentTypeError`` otherwise."""
    out: list[int] = []
    for part in text.split(','):
        low, _, high = part.partition('-')
        try:
            out.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f'invalid bit-width list: "{text}"') from None
    return out


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` and ``--dtype``, as the nodes' parameters (checked at placing)."""
    from qcoinf_ros.core.models.device import DEVICES_HELP, DTYPES
    parser.add_argument('--device', default='cpu', help=f'{DEVICES_HELP} (default cpu)')
    parser.add_argument('--dtype', default='float32', choices=DTYPES,
                        help='precision of the server part (default float32)')


def config_from_args(cls, args: argparse.Namespace):
    """
    Build the dataclass ``cls`` from the options of the same names in ``args``.

    A ``ValueError`` of the dataclass that starts with a field name is raised again naming the
    command-line option (``rate_fraction ...`` -> ``--rate-fraction ...``).
    """
    import dataclasses
    names = [f.name for f in dataclasses.fields(cls)]
    try:
        return cls(**{name: getattr(args, name) for name in names})
    except ValueError as exc:
        text = str(exc)
        for name in sorted(names, key=len, reverse=True):
            if text.startswith(name + ' '):
                text = '--' + name.replace('_', '-') + text[len(name):]
                break
        raise ValueError(text) from None
