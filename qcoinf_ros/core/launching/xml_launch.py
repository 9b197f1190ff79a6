"""
Evaluate the subset of ROS 2 launch XML the package's launch files use, as ``ros2 launch`` does.

``ros2 launch`` reads the same files on a robot; this evaluator lets ``qcoinf launch`` run them
where the ``launch`` packages are not installed (they are not published as wheels). Supported:

* ``<launch>`` root; ``<arg name default description>``; ``<let name value>``;
* ``<node pkg exec name namespace args output>`` with ``<param name value>``,
  ``<param from="file.yaml">`` and ``<remap from to>`` children;
* ``<group>`` (optionally ``scoped``) with ``<push_ros_namespace namespace>`` (also spelled
  ``push-ros-namespace``); ``<include file>`` of another launch XML with ``<arg name value>``;
* ``if`` / ``unless`` attributes on every action (not on ``<param>`` / ``<remap>``: ros2 launch
  rejects those files too);
* substitutions ``$(var NAME [DEFAULT])``, ``$(env NAME [DEFAULT])``, ``$(optenv NAME
  [DEFAULT])``, ``$(find-pkg-share PKG)``, ``$(dirname)``, ``$(filename)``, nested and with
  quoted arguments (``$(env X 'a b')``), parsed by the launch frontend's grammar.

The rules of ``launch`` / ``launch_ros`` it follows (each pinned by a test in
``test/core/launching/test_launching.py``): launch arguments are launch configurations of one
global scope, so a command-line ``name:=value`` also sets arguments declared in included files, and
an ``<include>``'s ``<arg>`` values stay set after it; only a scoped ``<group>`` (the default)
restores the configurations and the ROS namespace at its end, so ``push_ros_namespace`` in an
unscoped group or at the top of an included file applies to later siblings; values are text, never
parsed for substitutions again; relative ``<include file>`` and ``<param from>`` paths are relative
to the current directory (``$(dirname)`` names the launch file's folder), and a missing ``<param
from>`` file is a warning; ``<param value>`` is typed by YAML and must be a bool, int, float,
string or a non-empty list of one of those types (``null``, dates, mixed lists and mappings are
refused); ``<node args>`` are split like a shell, a substitution's result staying one argument.

Anything else — another tag, attribute or substitution — raises ``ValueError`` naming it and the
file, rather than being silently ignored. So does a file that is not well-formed XML, an include
cycle, nesting (``<group>``/``<include>``) deeper than :data:`MAX_DEPTH`, more than
:data:`MAX_FILES` files read through includes, or a substitution whose
result grows beyond :data:`MAX_TEXT` characters (a launch file cannot exhaust memory or the
stack). Parsing starts no process; ``ValueError`` is the only exception it raises for any file
content (``test/fuzz/test_fuzz_launch.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import re
from typing import Callable, overload
import xml.etree.ElementTree as ET

from qcoinf_ros.core.launching.substitutions import parse, split_command_line

SUPPORTED_TAGS = ('launch', 'arg', 'let', 'node', 'param', 'remap', 'group',
                  'push_ros_namespace', 'push-ros-namespace', 'include')
_ATTRS = {
    'launch': set(),
    'arg': {'name', 'default', 'description', 'value'},
    'let': {'name', 'value'},
    'node': {'pkg', 'exec', 'name', 'namespace', 'args', 'output', 'respawn', 'respawn_delay'},
    'param': {'name', 'value', 'from'},
    'remap': {'from', 'to'},
    'group': {'scoped'},
    'push_ros_namespace': {'namespace'},
    'push-ros-namespace': {'namespace'},
    'include': {'file'},
}
#: Deepest nesting of ``<group>`` and ``<include>`` elements accepted.
MAX_DEPTH = 32
#: Most launch files one evaluation reads (each include counts): N files including the next
#: twice would otherwise take 2^N readings.
MAX_FILES = 256
#: Longest text a substitution may produce [characters].
MAX_TEXT = 1 << 16


@dataclass(frozen=True)
class LaunchArg:
    """A declared launch argument (``conditional``: declared under an ``if`` / ``unless``)."""

    name: str
    default: str | None
    description: str
    conditional: bool = False


@dataclass
class NodeSpec:
    """One node to start: what ``ros2 run`` would run, plus its ROS arguments."""

    package: str
    executable: str
    name: str | None = None
    namespace: str = ''
    params_files: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    respawn: bool = False
    respawn_delay: float = 0.0

    def ros_args(self, params_dir: str | Path | None = None) -> list[str]:
        """
        Return the ``--ros-args`` part of the node's command line.

        With ``params_dir``, the ``<param name value>`` entries are written to a YAML file
        there (as ``ros2 launch`` does; values typed by YAML, an empty value stays an empty
        string) and passed after the parameter files, so they override them. Without it they
        become ``-p name:=value`` (for display: rcl rejects an empty ``-p`` value).
        """
        out: list[str] = []
        if self.name:
            out += ['-r', f'__node:={self.name}']
        if self.namespace:
            out += ['-r', f'__ns:={self.namespace}']
        for path in self.params_files:
            out += ['--params-file', path]
        if self.params and params_dir is not None:
            out += ['--params-file', str(self._write_params(Path(params_dir)))]
        elif self.params:
            for key, value in self.params.items():
                out += ['-p', f'{key}:={value}']
        for src, dst in self.remaps:
            out += ['-r', f'{src}:={dst}']
        return out

    def _write_params(self, folder: Path) -> Path:
        import yaml
        typed = {key: typed_parameter(key, text) for key, text in self.params.items()}
        folder.mkdir(parents=True, exist_ok=True)
        # the file name comes from the launch file: keep it a plain name inside ``folder``
        stem = re.sub(r'[^A-Za-z0-9_.-]', '_', self.name or self.executable).lstrip('.')
        path = folder / f'{stem[:64] or "node"}_{len(list(folder.iterdir()))}.yaml'
        try:
            path.write_text(yaml.safe_dump({'/**': {'ros__parameters': typed}}))
        except RecursionError:
            raise ValueError(f'parameters of {self.name or self.executable} are nested too '
                             'deeply to be written') from None
        return path


@dataclass
class LaunchDescription:
    """
    The result of evaluating: declared arguments, the nodes to start (in file order), warnings.

    ``args`` lists every argument declared by the file and the files it includes (those an
    include path can be resolved for without running it), first declaration first, as
    ``ros2 launch --show-args`` does.
    """

    args: list[LaunchArg] = field(default_factory=list)
    nodes: list[NodeSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def typed_parameter(name: str, text: str):
    """
    Return the value of ``<param name value>`` as ``launch_ros`` types it, else ``ValueError``.

    The text is read as YAML (empty: the empty string); allowed are bool, int, float, string
    and a non-empty list whose items all have the first item's type (bool, int, float or
    string). ``null``, ``~``, dates, mappings, empty or mixed lists are refused, as
    ``launch_ros`` refuses them before the node starts.
    """
    import yaml
    if text == '':
        return ''
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raise ValueError(f'parameter {name!r}: value {text!r} is not YAML') from None
    if type(value) in (bool, int, float, str):
        return value
    if isinstance(value, list):
        kind = type(value[0]) if value else None
        if kind in (bool, int, float, str) and all(isinstance(v, kind) for v in value):
            return value
        raise ValueError(f'parameter {name!r}: value {text!r} must be a non-empty list of '
                         'items of one type (bool, int, float or string)')
    raise ValueError(f'parameter {name!r}: value {text!r} is a {type(value).__name__}; '
                     'allowed are bool, int, float, string and lists of one of them')


def _truthy(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in ('true', '1'):
        return True
    if value in ('false', '0'):
        return False
    raise ValueError(f'{where}: condition must be true/false, got {text!r}')


def _find_pkg_share(pkg: str) -> str:
    from qcoinf_ros.core.resources import PACKAGE, share_dir
    if pkg == PACKAGE:
        return str(share_dir())
    try:
        from ament_index_python.packages import get_package_share_directory
        return get_package_share_directory(pkg)
    except Exception as exc:  # noqa: BLE001 - PackageNotFoundError or no ament index
        raise ValueError(f'$(find-pkg-share {pkg}): package not found ({exc})') from None


class _Unresolved(Exception):
    """A substitution needs the running launch (a ``var``) while only listing arguments."""


class _Evaluator:
    """Runs a launch file's actions the way ``launch`` does, collecting the nodes."""

    def __init__(self, overrides: dict[str, str]):
        # the command-line arguments are launch configurations of the global scope
        self.configs: dict[str, str] = dict(overrides)
        self.result = LaunchDescription()
        self.depth = 0
        self.including: list[Path] = []  # the include chain, to refuse cycles
        self.files_read = 0
        self.declared: set[str] = set()

    # -- substitutions ---------------------------------------------------------------------
    def resolver(self, where: str, configs: dict | None = None) -> Callable:
        """Return ``resolve(name, args)`` for :meth:`Template.evaluate` in the current file."""
        configs = self.configs if configs is None else configs
        current = self.including[-1]

        def resolve(name: str, args: list[str]) -> str:
            if name == 'var' and len(args) in (1, 2):
                if args[0] in configs:
                    return configs[args[0]]
                if len(args) == 2:
                    return args[1]
                raise ValueError(f'{where}: launch argument {args[0]!r} is not set')
            if name in ('env', 'optenv') and len(args) in (1, 2):
                value = os.environ.get(args[0], args[1] if len(args) == 2 else None)
                if value is None:
                    if name == 'optenv':
                        return ''
                    raise ValueError(f'{where}: environment variable {args[0]!r} is not set')
                return value
            if name == 'find-pkg-share' and len(args) == 1:
                return _find_pkg_share(args[0])
            if name == 'dirname' and not args:
                return str(current.parent)
            if name == 'filename' and not args:
                return str(current)
            shown = ' '.join([name, *args])
            raise ValueError(f'{where}: unsupported substitution $({shown})')

        return resolve

    @overload
    def subst(self, text: str, where: str, configs: dict | None = None) -> str: ...

    @overload
    def subst(self, text: None, where: str, configs: dict | None = None) -> None: ...

    def subst(self, text: str | None, where: str, configs: dict | None = None) -> str | None:
        """Return ``text`` with its substitutions evaluated (their results are not re-read)."""
        if text is None:
            return None
        value = parse(text, where).evaluate(self.resolver(where, configs))
        if len(value) > MAX_TEXT:
            raise ValueError(f'{where}: substitution result longer than {MAX_TEXT} '
                             f'characters ({value[:60]!r}...)')
        return value

    # -- files -----------------------------------------------------------------------------
    def parse_file(self, path: Path, run: Callable):
        try:
            key = path.resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, NUL in the name
            raise ValueError(f'cannot read launch file {path}: {exc}') from None
        if key in self.including:
            chain = ' -> '.join(str(p) for p in [*self.including, key])
            raise ValueError(f'{path}: include cycle ({chain})')
        if not key.is_file():  # a device such as /dev/zero or a FIFO would never end
            raise ValueError(f'cannot read launch file {path}: not a regular file')
        self.files_read += 1
        if self.files_read > MAX_FILES:
            raise ValueError(f'{path}: more than {MAX_FILES} launch files read (includes '
                             'multiply); refusing to go on')
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError, ValueError, RecursionError) as exc:
            raise ValueError(f'cannot read launch file {path}: {exc}') from None
        if root.tag != 'launch':
            raise ValueError(f'{path}: root element must be <launch>, got <{root.tag}>')
        self.including.append(key)
        try:
            run(root, path)
        finally:
            self.including.pop()

    def nested(self, where: str | Path):
        """Enter one level of <group>/<include>; ValueError beyond MAX_DEPTH."""
        if self.depth >= MAX_DEPTH:
            raise ValueError(f'{where}: <group>/<include> nested deeper than {MAX_DEPTH} levels')
        return _Level(self)

    def check(self, el: ET.Element, path: Path, child_of_node: bool = False):
        where = f'{path}:<{el.tag}>'
        if el.tag not in _ATTRS:
            raise ValueError(f'{path}: unsupported launch tag <{el.tag}> '
                             f'(supported: {", ".join(SUPPORTED_TAGS)})')
        allowed = _ATTRS[el.tag] if child_of_node else _ATTRS[el.tag] | {'if', 'unless'}
        extra = set(el.attrib) - allowed
        if extra & {'if', 'unless'}:
            raise ValueError(f'{where}: <{el.tag}> takes no if/unless (ros2 launch rejects '
                             'it too: only actions are conditional)')
        if extra:
            raise ValueError(f'{where}: unsupported attribute(s) {sorted(extra)}')
        return where

    def enabled(self, el: ET.Element, where) -> bool:
        if 'if' in el.attrib and not _truthy(self.subst(el.attrib['if'], where), where):
            return False
        if 'unless' in el.attrib and _truthy(self.subst(el.attrib['unless'], where), where):
            return False
        return True

    # -- running -----------------------------------------------------------------------------
    def walk(self, parent: ET.Element, path: Path):
        for el in parent:
            if not isinstance(el.tag, str):
                continue  # comments
            where = self.check(el, path)
            if not self.enabled(el, where):
                continue
            if el.tag == 'arg':
                self.arg(el, where)
            elif el.tag == 'let':
                name = el.get('name')
                if not name:
                    raise ValueError(f'{where}: <let> needs a name')
                self.configs[name] = self.subst(el.get('value', ''), where)
            elif el.tag in ('push_ros_namespace', 'push-ros-namespace'):
                self.configs[_NS] = _join_ns(self.configs.get(_NS, ''),
                                             self.subst(el.get('namespace'), where))
            elif el.tag == 'group':
                scoped = _truthy(self.subst(el.get('scoped', 'true'), where), where)
                saved = dict(self.configs) if scoped else None
                with self.nested(where):
                    self.walk(el, path)
                if saved is not None:
                    self.configs = saved
            elif el.tag == 'node':
                self.node(el, path, where)
            elif el.tag == 'include':
                with self.nested(where):
                    self.include(el, path, where)
            else:
                raise ValueError(f'{where}: <{el.tag}> is only valid inside <node>')

    def arg(self, el, where):
        name = el.get('name')
        if not name:
            raise ValueError(f'{where}: <arg> needs a name')
        self.declared.add(name)
        if name not in self.configs:
            default = el.get('default')
            if default is None:
                raise ValueError(f'{where}: launch argument {name!r} is required '
                                 f'(pass {name}:=VALUE)')
            self.configs[name] = self.subst(default, where)

    def node(self, el, path, where):
        pkg, exe = el.get('pkg'), el.get('exec')
        if not pkg or not exe:
            raise ValueError(f'{where}: <node> needs pkg and exec')
        namespace = self.subst(el.get('namespace', ''), where)
        args = [t.evaluate(self.resolver(where))
                for t in split_command_line(parse(el.get('args', ''), where))]
        spec = NodeSpec(
            package=self.subst(pkg, where), executable=self.subst(exe, where),
            name=self.subst(el.get('name'), where),
            namespace=_join_ns(self.configs.get(_NS, ''), namespace),
            args=args,
            respawn=_truthy(self.subst(el.get('respawn', 'false'), where), where),
            respawn_delay=_seconds(self.subst(el.get('respawn_delay', '0'), where), where))
        for child in el:
            if not isinstance(child.tag, str):
                continue
            cwhere = self.check(child, path, child_of_node=True)
            if child.tag == 'param':
                if child.get('from') is not None and child.get('name') is not None:
                    raise ValueError(f'{cwhere}: name and from are mutually exclusive')
                if child.get('from') is not None:
                    file = Path(os.path.abspath(self.subst(child.get('from'), cwhere)))
                    if not file.is_file():
                        self.result.warnings.append(f'{cwhere}: parameter file path is not '
                                                    f'a file: {file}; skipped')
                        continue
                    spec.params_files.append(str(file))
                elif child.get('name') and child.get('value') is not None:
                    key = self.subst(child.get('name'), cwhere)
                    value = self.subst(child.get('value'), cwhere)
                    try:
                        typed_parameter(key, value)
                    except ValueError as exc:
                        raise ValueError(f'{cwhere}: {exc}') from None
                    spec.params[key] = value
                else:
                    raise ValueError(f'{cwhere}: <param> needs from=, or name= and value=')
            elif child.tag == 'remap':
                src, dst = child.get('from'), child.get('to')
                if not src or not dst:
                    raise ValueError(f'{cwhere}: <remap> needs from and to')
                spec.remaps.append((self.subst(src, cwhere), self.subst(dst, cwhere)))
            else:
                raise ValueError(f'{cwhere}: <{child.tag}> is not supported inside <node>')
        self.result.nodes.append(spec)

    def include(self, el, path, where):
        file = _include_path(self.subst(el.get('file') or '', where))
        names: list[str] = []
        for child in el:
            if not isinstance(child.tag, str):
                continue
            cwhere = self.check(child, path, child_of_node=True)
            if child.tag != 'arg' or child.get('value') is None or not child.get('name'):
                raise ValueError(f'{cwhere}: inside <include> only <arg name value> is allowed')
            # set in order, in the current scope: they stay set after the include
            name = self.subst(child.get('name'), cwhere)
            self.configs[name] = self.subst(child.get('value'), cwhere)
            names.append(name)

        def run(root, child_path):
            for arg in root:  # launch checks the included file's required arguments
                if isinstance(arg.tag, str) and arg.tag == 'arg' and \
                        arg.get('default') is None and arg.get('name') not in names and \
                        'if' not in arg.attrib and 'unless' not in arg.attrib:
                    raise ValueError(f'{where}: the included {child_path} needs argument '
                                     f"'{arg.get('name')}', not given in <include>")
            self.walk(root, child_path)

        self.parse_file(file, run)

    # -- listing the arguments (ros2 launch --show-args) -------------------------------------
    def list_args(self, parent: ET.Element, path: Path, conditional: bool, seen: set):
        for el in parent:
            if not isinstance(el.tag, str) or el.tag not in _ATTRS:
                continue
            cond = conditional or 'if' in el.attrib or 'unless' in el.attrib
            name = el.get('name')
            if el.tag == 'arg' and name and name not in seen:
                seen.add(name)
                self.result.args.append(LaunchArg(name, el.get('default'),
                                                  el.get('description', ''), cond))
            elif el.tag == 'group' and self.depth < MAX_DEPTH:
                with self.nested(path):
                    self.list_args(el, path, cond, seen)
            elif el.tag == 'include' and self.depth < MAX_DEPTH:
                try:  # only an include whose path needs no launch argument can be listed
                    file = _include_path(self.subst(el.get('file') or '', str(path),
                                                    configs=_NoConfigs()))
                    with self.nested(path):
                        self.parse_file(file, lambda root, p, c=cond: self.list_args(
                            root, p, c, seen))
                except (_Unresolved, ValueError):
                    continue


class _NoConfigs(dict):
    """Launch configurations while listing: none is known yet."""

    def __contains__(self, key) -> bool:
        raise _Unresolved(key)


_NS = 'ros_namespace'  # the launch configuration launch_ros keeps the pushed namespace in


def _include_path(text: str) -> Path:
    """Return an ``<include file>`` path: relative to the current directory, as in ros2 launch."""
    return Path(os.path.abspath(text)) if text else Path(text)


class _Level:
    """Context manager counting one level of nesting of an :class:`_Evaluator`."""

    def __init__(self, parser: _Evaluator):
        self.parser = parser

    def __enter__(self):
        self.parser.depth += 1

    def __exit__(self, *exc):
        self.parser.depth -= 1


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f'{where}: respawn_delay must be a number of seconds >= 0, got {text!r}')
    return value


def _join_ns(base: str, ns: str | None) -> str:
    if not ns:
        return base
    if ns.startswith('/'):
        return ns.rstrip('/') or '/'
    return f'{base.rstrip("/")}/{ns}' if base else f'/{ns}'


def list_launch_arguments(path: str | Path) -> list[LaunchArg]:
    """
    Return the arguments ``path`` and the files it includes declare, as ``--show-args`` lists.

    Nothing is run: an ``<include>`` whose path needs a launch argument is not followed;
    arguments under an ``if`` / ``unless`` are marked ``conditional``.
    """
    lister = _Evaluator({})
    lister.parse_file(Path(path), lambda root, p: lister.list_args(root, p, False, set()))
    return lister.result.args


def parse_launch_file(path: str | Path, args: dict[str, str] | None = None
                      ) -> LaunchDescription:
    """
    Evaluate a launch XML file with the command-line ``args`` (``name -> value``).

    Returns the nodes it starts, every argument it and its includes declare, and warnings
    (a missing ``<param from>`` file; an argument no file declares, which ros2 launch ignores
    silently). Raises ``ValueError`` naming the file and element for anything it cannot run.
    """
    path = Path(path)
    args = dict(args or {})
    evaluator = _Evaluator(args)
    evaluator.parse_file(path, evaluator.walk)
    result = evaluator.result
    result.args = list_launch_arguments(path)
    known = {a.name for a in result.args} | evaluator.declared
    unknown = sorted(set(args) - known)
    if unknown:
        result.warnings.append(f'launch argument(s) {", ".join(unknown)} not declared by '
                               f'{path.name} or the files it includes: ignored')
    return result
