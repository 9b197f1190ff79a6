#!/usr/bin/env python3
"""
Print the ``-p MODULE`` options that load the pytest plugins the test suite uses.

``make test`` runs pytest with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and loads exactly these, so a
plugin another installed package registers cannot break the run: with a system ROS 2 sourced,
``launch_testing``'s plugin (Kilted before its September 2026 fix) makes pytest 9 fail at
start-up with ``PluginValidationError ... {'path'}``, and ``-p no:launch_testing`` does not
help (the plugin module is imported before the option is read). Only the plugins importable
here are printed (``ament_flake8`` / ``ament_pep257`` come with ROS).
"""

import importlib.util

#: pytest-timeout (--timeout), hypothesis, pytest-rerunfailures, pytest-repeat, pytest-cov
#: (colcon passes --cov when asked for coverage), ament's linter markers.
PLUGINS = ('pytest_timeout', '_hypothesis_pytestplugin', 'pytest_rerunfailures',
           'pytest_repeat', 'pytest_cov.plugin', 'ament_flake8.pytest_marker',
           'ament_pep257.pytest_marker')


def available(name: str) -> bool:
    """Return whether the plugin module ``name`` can be imported."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


if __name__ == '__main__':
    print(' '.join(f'-p {name}' for name in PLUGINS if available(name)))
