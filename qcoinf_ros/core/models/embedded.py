"""
The embedded captioners: the project's GIT models trained on its own scenes.

Two ship in the package, both captioning the 96 x 96 scenes of :mod:`qcoinf_ros.core.scenes` with
the same text decoder (width 128, 3 layers) and the same 10 image tokens:

``default`` (:data:`DEFAULT_MODEL_ID`, ``weights/captioner/default/``)
    a ViT-B-wide image encoder (width 768, 4 layers, 12 heads, 32 x 32 patches; ~0.28 G
    multiply-adds and 31 M weights per frame) distilled from ``tiny``
    (:mod:`qcoinf_ros.core.captioner.distill`): enough matrix work that the bit-width sets the
    agent's frame time. Stored in the shipped format (:mod:`qcoinf_ros.core.models.shipped`): the
    agent as its 8-bit nested codes, the decoder in fp16.
``tiny`` (:data:`TINY_MODEL_ID`, ``weights/captioner/tiny/``)
    the small captioner (image encoder width 96, 3 layers; 1.25 M weights) trained from scratch
    (:mod:`qcoinf_ros.core.captioner.train`), a standard fp32 GIT checkpoint: fast tests and demos
    where the encode time does not matter (it is framework overhead, flat in the bit-width).

Each directory also holds ``config.json``, the tokenizer and processor files and
``training.json`` (how it was made), so it loads offline like any GIT checkpoint.
:func:`load_captioner` accepts either name (or id), or the path of a real GIT / BLIP-2
checkpoint (a local directory or a model already in the Hugging Face cache).
"""

from __future__ import annotations

import json
import os

from qcoinf_ros.core.models.base import CaptionerSplit, PARTS, resolve_checkpoint
from qcoinf_ros.core.resources import WEIGHTS_DIR

__all__ = ['DEFAULT_MODEL_ID', 'TINY_MODEL_ID', 'WEIGHTS_ROOT', 'DEFAULT_DIR', 'TINY_DIR',
           'EMBEDDED', 'embedded_name', 'load_embedded_captioner', 'load_default_captioner',
           'load_captioner', 'is_default_model']

#: Model id of the default captioner (carried in embedding messages; names no hub model).
DEFAULT_MODEL_ID = 'qcoinf/git-scenes-96-w768'
#: Model id of the small captioner.
TINY_MODEL_ID = 'qcoinf/git-scenes-96'
WEIGHTS_ROOT = WEIGHTS_DIR / 'captioner'
DEFAULT_DIR = WEIGHTS_ROOT / 'default'
TINY_DIR = WEIGHTS_ROOT / 'tiny'
#: Embedded captioners: name -> (model id, directory).
EMBEDDED = {'default': (DEFAULT_MODEL_ID, DEFAULT_DIR), 'tiny': (TINY_MODEL_ID, TINY_DIR)}
_ALIASES = {'': 'default', 'default': 'default', DEFAULT_MODEL_ID: 'default', 'tiny': 'tiny',
            TINY_MODEL_ID: 'tiny'}


def embedded_name(model: str | os.PathLike) -> str | None:
    """Return ``'default'`` or ``'tiny'`` when ``model`` names an embedded captioner, else None."""
    return _ALIASES.get(model) if isinstance(model, str) else None


def is_default_model(model: str | os.PathLike) -> bool:
    """Return whether ``model`` names the default captioner (its id, ``'default'`` or ``''``)."""
    return embedded_name(model) == 'default'


def load_embedded_captioner(name: str = 'default', parts=PARTS):
    """
    Load an embedded scene captioner (``'default'`` or ``'tiny'``) as a ``GitSplit``.

    ``parts``: ``('agent', 'server')``, ``'agent'`` (image encoder + visual projection, the
    part that gets quantized) or ``'server'`` (text decoder). Offline.
    """
    from qcoinf_ros.core.models.git import GitSplit
    if name not in EMBEDDED:
        raise ValueError(f'embedded captioner must be one of {sorted(EMBEDDED)}, got {name!r}')
    model_id, directory = EMBEDDED[name]
    if not (directory / 'config.json').is_file():
        raise ValueError(f'the {name} captioner weights are missing from {str(directory)!r}; '
                         f'see training.json in the source tree for how they are made')
    split = GitSplit.from_pretrained(directory, parts=parts)
    split.model_id = model_id
    return split


def load_default_captioner(parts=PARTS):
    """Load the default scene captioner (see :func:`load_embedded_captioner`)."""
    return load_embedded_captioner('default', parts)


def load_captioner(model: str | os.PathLike = DEFAULT_MODEL_ID, parts=PARTS) -> CaptionerSplit:
    """
    Load a captioner split: an embedded one, or a local GIT / BLIP-2 checkpoint.

    ``model`` is ``'default'`` / ``'tiny'`` (or their ids), or a checkpoint directory / a model
    id already in the Hugging Face cache (nothing is downloaded). The architecture is read from
    the checkpoint's ``config.json``.
    """
    name = embedded_name(model)
    if name is not None:
        return load_embedded_captioner(name, parts)
    from qcoinf_ros.core.models.blip2 import Blip2Split
    from qcoinf_ros.core.models.git import GitSplit
    adapters = {t: cls for cls in (GitSplit, Blip2Split) for t in cls.model_types}
    local = resolve_checkpoint(model, tuple(adapters))
    model_type = json.loads((local / 'config.json').read_text())['model_type']
    return adapters[model_type].from_pretrained(local, parts=parts)
