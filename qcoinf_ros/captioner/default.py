"""
The embedded default captioner: the project's GIT model trained on its own scenes.

The weights ship in the package (``captioner/weights/``: ``model.safetensors``, ``config.json``,
the tokenizer and processor files, and ``training.json``, which records how they were trained),
laid out as a standard GIT checkpoint directory, so they load offline like any other GIT
checkpoint. :func:`load_captioner` accepts either :data:`DEFAULT_MODEL_ID` or the path of a
real GIT / BLIP-2 checkpoint (a local directory or a model already in the Hugging Face cache).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qcoinf_ros.models.base import CaptionerSplit, PARTS, resolve_checkpoint

__all__ = ['DEFAULT_MODEL_ID', 'WEIGHTS_DIR', 'load_default_captioner', 'load_captioner',
           'is_default_model']

#: Model id of the shipped captioner (carried in embedding messages; names no hub model).
DEFAULT_MODEL_ID = 'qcoinf/git-scenes-96'
WEIGHTS_DIR = Path(__file__).resolve().parent / 'weights'
_ALIASES = ('', 'default', DEFAULT_MODEL_ID)


def is_default_model(model: str | os.PathLike) -> bool:
    """Return whether ``model`` names the shipped captioner (its id, ``'default'`` or ``''``)."""
    return isinstance(model, str) and model in _ALIASES


def load_default_captioner(parts=PARTS):
    """
    Load the shipped scene captioner as a :class:`~qcoinf_ros.models.git.GitSplit`.

    ``parts``: ``('agent', 'server')``, ``'agent'`` (image encoder + visual projection, the
    part that gets quantized) or ``'server'`` (text decoder). Offline; a few hundred ms.
    """
    from qcoinf_ros.models.git import GitSplit
    if not (WEIGHTS_DIR / 'model.safetensors').is_file():
        raise ValueError(f'the default captioner weights are missing from {str(WEIGHTS_DIR)!r}; '
                         f'run scripts/train_captioner.py to create them')
    split = GitSplit.from_pretrained(WEIGHTS_DIR, parts=parts)
    split.model_id = DEFAULT_MODEL_ID
    return split


def load_captioner(model: str | os.PathLike = DEFAULT_MODEL_ID, parts=PARTS) -> CaptionerSplit:
    """
    Load a captioner split: the shipped one, or a local GIT / BLIP-2 checkpoint.

    ``model`` is :data:`DEFAULT_MODEL_ID` (or ``'default'``), or a checkpoint directory / a
    model id already in the Hugging Face cache (nothing is downloaded). The architecture is
    read from the checkpoint's ``config.json``.
    """
    if is_default_model(model):
        return load_default_captioner(parts)
    from qcoinf_ros.models.blip2 import Blip2Split
    from qcoinf_ros.models.git import GitSplit
    adapters = {t: cls for cls in (GitSplit, Blip2Split) for t in cls.model_types}
    local = resolve_checkpoint(model, tuple(adapters))
    model_type = json.loads((local / 'config.json').read_text())['model_type']
    return adapters[model_type].from_pretrained(local, parts=parts)
