"""
Load a split model from a short specification, as the ROS nodes' ``model`` parameter gives it.

* ``git:<dir>`` — a GIT checkpoint (``GitForCausalLM``) in a local directory or the HF cache;
* ``blip2:<dir>`` — a BLIP-2 checkpoint (``Blip2ForConditionalGeneration``);
* ``default`` — the captioner the package ships (trained on its own scenes; a ViT-B-wide agent
  stored as 8-bit codes);
* ``tiny`` — the small embedded captioner (1.25 M agent weights: fast, flat cost in b).

Only ``parts`` are kept in memory, so the agent and the server load the same specification in
different processes. :func:`model_fingerprint` gives both sides the same id for the same
checkpoint (a digest of its config and weight files), independent of where it is stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from qcoinf_ros.core.models.base import PARTS, SplitModel

FAMILIES = ('git', 'blip2')
#: Specs of the captioners embedded in the package.
EMBEDDED = ('default', 'tiny')


def model_fingerprint(directory: str | Path, family: str) -> str:
    """Return ``family:<12 hex>`` from the checkpoint's config and weight-file names/sizes."""
    directory = Path(directory)
    digest = hashlib.sha256()
    config = directory / 'config.json'
    if config.is_file():
        digest.update(config.read_bytes())
    for path in sorted(directory.glob('*.safetensors')) + sorted(directory.glob('*.bin')):
        digest.update(f'{path.name}:{path.stat().st_size}'.encode())
    return f'{family}:{digest.hexdigest()[:12]}'


def part_parameters(spec: str, part: str) -> int:
    """
    Return the parameter count of ``part`` (``'agent'`` or ``'server'``) of the model ``spec``.

    A checkpoint's count comes from its config alone (no weight is read:
    :meth:`~qcoinf_ros.core.models.base.CaptionerSplit.part_parameters`); the embedded
    captioners are small and loaded. ``ValueError`` as :func:`load_split`.
    """
    if spec in EMBEDDED:
        split = load_split(spec, parts=(part,))
        module = split.server_module if part == 'server' else split.agent_module
        return sum(p.numel() for p in module.parameters())
    family, location = _family(spec)
    return _split_class(family).part_parameters(location, part)


def _family(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not spec:
        raise ValueError(f'model spec must be a non-empty string, got {spec!r}')
    family, sep, location = spec.partition(':')
    if not sep or family not in FAMILIES or not location:
        raise ValueError(f'Invalid model spec: "{spec}" (expected default, tiny, git:<dir> or '
                         f'blip2:<dir>)')
    return family, location


def _split_class(family: str):
    if family == 'git':
        from qcoinf_ros.core.models.git import GitSplit
        return GitSplit
    from qcoinf_ros.core.models.blip2 import Blip2Split
    return Blip2Split


def load_split(spec: str, parts=PARTS) -> SplitModel:
    """Load the split model named by ``spec`` keeping ``parts``; ``ValueError`` if impossible."""
    if isinstance(spec, str) and spec in EMBEDDED:
        from qcoinf_ros.core.models.embedded import load_embedded_captioner
        return load_embedded_captioner(spec, parts=parts)
    family, location = _family(spec)
    split = _split_class(family).from_pretrained(location, parts=parts)
    if Path(location).expanduser().is_dir():
        split.model_id = model_fingerprint(Path(location).expanduser(), family)
    return split
