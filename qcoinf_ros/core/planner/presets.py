"""
Planner presets: system parameters, clock profiles and default budgets from YAML.

A preset file (``config/presets/<name>.yaml``) has the keys ``name``, ``description``,
``system`` (any :class:`~qcoinf_ros.core.system.model.SystemParams` field), ``models`` (one entry
per model: ``n_flop``, ``n_flop_server``, optionally other ``system`` overrides and a ``defaults``
mapping), ``default_model``, ``profiles`` (name -> ``f``, ``f_server``, optional
``nvpmodel_mode``) and ``defaults`` (``lam``, ``t0``, ``e0``; a model's ``defaults`` override
them). Presets shipped with the package: ``paper`` and ``jetson_orin``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from qcoinf_ros.core.planner.profiles import FrequencyProfile
from qcoinf_ros.core.system.model import SystemParams

__all__ = ['Preset', 'load_preset', 'preset_dirs', 'preset_models', 'preset_names']

_TOP_KEYS = {'name', 'description', 'system', 'models', 'default_model', 'profiles',
             'defaults'}
_SYSTEM_KEYS = {f.name for f in dataclasses.fields(SystemParams) if f.init}
_DEFAULT_KEYS = {'lam', 't0', 'e0'}


class Preset(NamedTuple):
    """A loaded preset; unpacks as ``params, profiles, defaults``."""

    params: SystemParams
    profiles: tuple[FrequencyProfile, ...]
    defaults: dict[str, Any]


def preset_dirs() -> list[Path]:
    """Folders searched for ``<name>.yaml``: the package's share folder, then the source tree."""
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory('qcoinf_ros')) / 'config' / 'presets')
    except (ImportError, LookupError, OSError, ValueError):  # not installed: source tree
        pass
    dirs.append(Path(__file__).resolve().parents[3] / 'config' / 'presets')
    return [d for d in dirs if d.is_dir()]


def preset_names() -> list[str]:
    """Names of the presets found in :func:`preset_dirs`."""
    return sorted({p.stem for d in preset_dirs() for p in d.glob('*.yaml')})


def preset_models(name_or_path: str | Path) -> list[str]:
    """Return the model names of a preset's ``models`` section (``[]`` if none)."""
    with _find(name_or_path).open(encoding='utf-8') as stream:
        data = _mapping(str(name_or_path), yaml.safe_load(stream))
    return list(_mapping('models', data.get('models', {})))


def _find(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in ('.yaml', '.yml') or path.exists():
        if not path.is_file():
            raise ValueError(f'preset file {str(path)!r} does not exist')
        return path
    for folder in preset_dirs():
        candidate = folder / f'{name_or_path}.yaml'
        if candidate.is_file():
            return candidate
    raise ValueError(f'unknown preset {str(name_or_path)!r}; known: {preset_names()}')


def _mapping(where: str, value) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f'{where} must be a mapping, got {value!r}')
    return value


def _check_keys(where: str, mapping: dict, allowed: set):
    unknown = set(mapping) - allowed
    if unknown:
        raise ValueError(f'unknown key(s) {sorted(unknown)} in {where}; allowed: '
                         f'{sorted(allowed)}')


def _profile(name: str, spec) -> FrequencyProfile:
    spec = _mapping(f'profiles.{name}', spec)
    _check_keys(f'profiles.{name}', spec, {'f', 'f_server', 'nvpmodel_mode'})
    try:
        return FrequencyProfile(str(name), **spec)
    except TypeError as exc:
        raise ValueError(f'profiles.{name}: {exc}') from None


def load_preset(name_or_path: str | Path, model: str | None = None) -> Preset:
    """
    Load a preset by name (``'paper'``, ``'jetson_orin'``) or from a YAML path.

    ``model`` picks an entry of ``models`` (default: the file's ``default_model``). Returns
    ``(params, profiles, defaults)``; ``defaults`` holds ``lam``, ``t0``, ``e0`` (those given)
    and ``model``. Bad content raises ``ValueError`` naming the key or value.
    """
    path = _find(name_or_path)
    with path.open(encoding='utf-8') as stream:
        data = _mapping(str(path), yaml.safe_load(stream))
    _check_keys(str(path), data, _TOP_KEYS)
    system = dict(_mapping('system', data.get('system', {})))
    _check_keys('system', system, _SYSTEM_KEYS)
    models = _mapping('models', data.get('models', {}))
    model = model if model is not None else data.get('default_model')
    defaults = dict(_mapping('defaults', data.get('defaults', {})))
    if model is not None:
        if model not in models:
            raise ValueError(f'unknown model {model!r} in preset {path.stem!r}; '
                             f'known: {sorted(models)}')
        entry = dict(_mapping(f'models.{model}', models[model]))
        defaults.update(_mapping(f'models.{model}.defaults', entry.pop('defaults', {})))
        _check_keys(f'models.{model}', entry, _SYSTEM_KEYS)
        system.update(entry)
    _check_keys('defaults', defaults, _DEFAULT_KEYS)
    try:
        params = SystemParams(**system)
    except TypeError as exc:  # a missing n_flop / n_flop_server
        raise ValueError(f'preset {path.stem!r} (model {model!r}): {exc}') from None
    profiles = tuple(_profile(name, spec) for name, spec in
                     _mapping('profiles', data.get('profiles', {})).items())
    defaults['model'] = model
    return Preset(params, profiles, defaults)
