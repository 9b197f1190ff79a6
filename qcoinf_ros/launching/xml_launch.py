"""
Parse the subset of ROS 2 launch XML that the package's launch files use.

``ros2 launch`` reads the same files on a robot; this parser lets ``qcoinf launch`` run them where
the ``launch`` packages are not installed (they are not published as wheels). Supported:

* ``<launch>`` root; ``<arg name default description>``; ``<let name value>``;
* ``<node pkg exec name namespace args output>`` with ``<param name value>``,
  ``<param from="file.yaml">`` and ``<remap from to>`` children;
* ``<group>`` (optionally ``scoped``) with ``<push_ros_namespace namespace>`` (also spelled
  ``push-ros-namespace``); ``<include file>`` of another launch XML with ``<arg name value>``;
* ``if`` / ``unless`` attributes on every element;
* substitutions ``$(var NAME)``, ``$(env NAME [DEFAULT])``, ``$(find-pkg-share PKG)``, nested.

Anything else — another tag, attribute or substitution — raises ``ValueError`` naming it and the
file, rather than being silently ignored. So does a file that is not well-formed XML, an include
cycle, nesting (``<group>``/``<include>``) deeper than :data:`MAX_DEPTH`, or a substitution whose
result grows beyond :data:`MAX_TEXT` characters (a launch file cannot exhaust memory or the
stack). Parsing starts no process; ``ValueError`` is the only exception it raises for any file
content (``test/test_fuzz_launch.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import re
import xml.etree.ElementTree as ET

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
_SUBST = re.compile(r'\$\(([^()$]*)\)')
#: Deepest nesting of ``<group>`` and ``<include>`` elements accepted.
MAX_DEPTH = 32
#: Longest text a substitution may produce [characters].
MAX_TEXT = 1 << 16


@dataclass(frozen=True)
class LaunchArg:
    """A declared launch argument."""

    name: str
    default: str | None
    description: str


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
        typed = {}
        for key, text in self.params.items():
            try:
                value = yaml.safe_load(text)
            except (yaml.YAMLError, RecursionError):  # not YAML (or nested absurdly deep)
                value = text
            typed[key] = '' if value is None else value
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
    """The result of parsing: declared arguments and the nodes to start, in file order."""

    args: list[LaunchArg] = field(default_factory=list)
    nodes: list[NodeSpec] = field(default_factory=list)


def _truthy(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in ('true', '1'):
        return True
    if value in ('false', '0'):
        return False
    raise ValueError(f'{where}: condition must be true/false, got {text!r}')


def _find_pkg_share(pkg: str) -> str:
    from qcoinf_ros.resources import PACKAGE, share_dir
    if pkg == PACKAGE:
        return str(share_dir())
    try:
        from ament_index_python.packages import get_package_share_directory
        return get_package_share_directory(pkg)
    except Exception as exc:  # noqa: BLE001 - PackageNotFoundError or no ament index
        raise ValueError(f'$(find-pkg-share {pkg}): package not found ({exc})') from None


class _Parser:
    def __init__(self, overrides: dict[str, str]):
        self.overrides = dict(overrides)
        self.result = LaunchDescription()
        self.depth = 0
        self.including: list[Path] = []  # the include chain, to refuse cycles

    def subst(self, text: str | None, scope: dict[str, str], where: str) -> str | None:
        if text is None:
            return None
        for _ in range(32):  # innermost first, so nested substitutions resolve
            match = _SUBST.search(text)
            if match is None:
                return text
            parts = match.group(1).split()
            if not parts:
                raise ValueError(f'{where}: empty substitution in {text!r}')
            kind, rest = parts[0], parts[1:]
            if kind == 'var' and len(rest) == 1:
                if rest[0] not in scope:
                    raise ValueError(f'{where}: launch argument {rest[0]!r} is not set')
                value = scope[rest[0]]
            elif kind == 'env' and len(rest) in (1, 2):
                value = os.environ.get(rest[0], rest[1] if len(rest) == 2 else None)
                if value is None:
                    raise ValueError(f'{where}: environment variable {rest[0]!r} is not set')
            elif kind == 'find-pkg-share' and len(rest) == 1:
                value = _find_pkg_share(rest[0])
            else:
                raise ValueError(f'{where}: unsupported substitution $({match.group(1)})')
            text = text[:match.start()] + value + text[match.end():]
            if len(text) > MAX_TEXT:
                raise ValueError(f'{where}: substitution result longer than {MAX_TEXT} '
                                 f'characters ({text[:60]!r}...)')
        raise ValueError(f'{where}: substitutions nested too deeply in {text!r}')

    def parse_file(self, path: Path, scope: dict[str, str], namespace: str, top: bool):
        try:
            key = path.resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, NUL in the name
            raise ValueError(f'cannot read launch file {path}: {exc}') from None
        if key in self.including:
            chain = ' -> '.join(str(p) for p in [*self.including, key])
            raise ValueError(f'{path}: include cycle ({chain})')
        if not key.is_file():  # a device such as /dev/zero or a FIFO would never end
            raise ValueError(f'cannot read launch file {path}: not a regular file')
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError, ValueError) as exc:
            raise ValueError(f'cannot read launch file {path}: {exc}') from None
        if root.tag != 'launch':
            raise ValueError(f'{path}: root element must be <launch>, got <{root.tag}>')
        self.including.append(key)
        try:
            self.walk(root, path, scope, namespace, top)
        finally:
            self.including.pop()

    def nested(self, where: str):
        """Enter one level of <group>/<include>; ValueError beyond MAX_DEPTH."""
        if self.depth >= MAX_DEPTH:
            raise ValueError(f'{where}: <group>/<include> nested deeper than {MAX_DEPTH} levels')
        return _Level(self)

    def check(self, el: ET.Element, path: Path):
        where = f'{path}:<{el.tag}>'
        if el.tag not in _ATTRS:
            raise ValueError(f'{path}: unsupported launch tag <{el.tag}> '
                             f'(supported: {", ".join(SUPPORTED_TAGS)})')
        extra = set(el.attrib) - _ATTRS[el.tag] - {'if', 'unless'}
        if extra:
            raise ValueError(f'{where}: unsupported attribute(s) {sorted(extra)}')
        return where

    def enabled(self, el: ET.Element, scope, where) -> bool:
        if 'if' in el.attrib and not _truthy(self.subst(el.get('if'), scope, where), where):
            return False
        if 'unless' in el.attrib and _truthy(self.subst(el.get('unless'), scope, where), where):
            return False
        return True

    def walk(self, parent: ET.Element, path: Path, scope: dict[str, str], namespace: str,
             top: bool):
        for el in parent:
            if not isinstance(el.tag, str):
                continue  # comments
            where = self.check(el, path)
            if not self.enabled(el, scope, where):
                continue
            if el.tag == 'arg':
                self.arg(el, scope, where, top)
            elif el.tag == 'let':
                if not el.get('name'):
                    raise ValueError(f'{where}: <let> needs a name')
                scope[el.get('name')] = self.subst(el.get('value', ''), scope, where)
            elif el.tag in ('push_ros_namespace', 'push-ros-namespace'):
                namespace = _join_ns(namespace, self.subst(el.get('namespace'), scope, where))
            elif el.tag == 'group':
                scoped = _truthy(el.get('scoped', 'true'), where)
                with self.nested(where):
                    self.walk(el, path, dict(scope) if scoped else scope, namespace, top)
            elif el.tag == 'node':
                self.node(el, path, scope, namespace, where)
            elif el.tag == 'include':
                with self.nested(where):
                    self.include(el, path, scope, namespace, where)
            else:
                raise ValueError(f'{where}: <{el.tag}> is only valid inside <node>')

    def arg(self, el, scope, where, top):
        name = el.get('name')
        if not name:
            raise ValueError(f'{where}: <arg> needs a name')
        if top:
            self.result.args.append(LaunchArg(name, el.get('default'),
                                              el.get('description', '')))
        if name in self.overrides and top:
            scope[name] = self.overrides[name]
        elif name not in scope:
            default = el.get('default')
            if default is None:
                raise ValueError(f'{where}: launch argument {name!r} is required '
                                 f'(pass {name}:=VALUE)')
            scope[name] = self.subst(default, scope, where)

    def node(self, el, path, scope, namespace, where):
        pkg, exe = el.get('pkg'), el.get('exec')
        if not pkg or not exe:
            raise ValueError(f'{where}: <node> needs pkg and exec')
        spec = NodeSpec(
            package=self.subst(pkg, scope, where), executable=self.subst(exe, scope, where),
            name=self.subst(el.get('name'), scope, where),
            namespace=_join_ns(namespace, self.subst(el.get('namespace', ''), scope, where)),
            args=(self.subst(el.get('args', ''), scope, where) or '').split(),
            respawn=_truthy(self.subst(el.get('respawn', 'false'), scope, where), where),
            respawn_delay=_seconds(self.subst(el.get('respawn_delay', '0'), scope, where),
                                   where))
        for child in el:
            if not isinstance(child.tag, str):
                continue
            cwhere = self.check(child, path)
            if not self.enabled(child, scope, cwhere):
                continue
            if child.tag == 'param':
                if child.get('from') is not None:
                    file = Path(self.subst(child.get('from'), scope, cwhere))
                    if not file.is_absolute():
                        file = path.parent / file
                    if not file.is_file():
                        raise ValueError(f'{cwhere}: parameter file {file} does not exist')
                    spec.params_files.append(str(file))
                elif child.get('name') and child.get('value') is not None:
                    spec.params[child.get('name')] = self.subst(child.get('value'), scope,
                                                                cwhere)
                else:
                    raise ValueError(f'{cwhere}: <param> needs from=, or name= and value=')
            elif child.tag == 'remap':
                src, dst = child.get('from'), child.get('to')
                if not src or not dst:
                    raise ValueError(f'{cwhere}: <remap> needs from and to')
                spec.remaps.append((self.subst(src, scope, cwhere),
                                    self.subst(dst, scope, cwhere)))
            else:
                raise ValueError(f'{cwhere}: <{child.tag}> is not supported inside <node>')
        self.result.nodes.append(spec)

    def include(self, el, path, scope, namespace, where):
        file = Path(self.subst(el.get('file') or '', scope, where))
        if not file.is_absolute():
            file = path.parent / file
        child_scope: dict[str, str] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            cwhere = self.check(child, path)
            if child.tag != 'arg' or child.get('value') is None or not child.get('name'):
                raise ValueError(f'{cwhere}: inside <include> only <arg name value> is allowed')
            child_scope[child.get('name')] = self.subst(child.get('value'), scope, cwhere)
        self.parse_file(file, child_scope, namespace, top=False)


class _Level:
    """Context manager counting one level of nesting of a :class:`_Parser`."""

    def __init__(self, parser: _Parser):
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


def parse_launch_file(path: str | Path, args: dict[str, str] | None = None
                      ) -> LaunchDescription:
    """Parse a launch XML file with ``args`` (``name -> value``) overriding declared defaults."""
    path = Path(path)
    parser = _Parser(args or {})
    parser.parse_file(path, {}, '', top=True)
    declared = {a.name for a in parser.result.args}
    unknown = sorted(set(parser.overrides) - declared)
    if unknown:
        raise ValueError(f'{path}: unknown launch argument(s) {unknown} '
                         f'(declared: {sorted(declared)})')
    return parser.result
