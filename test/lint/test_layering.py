"""
Layering: three wings, each importing only the wings below it: tools -> ros -> core.

``qcoinf_ros/core/`` (the numeric core) never imports rclpy, rosidl or a message package, nor
``ros/`` or ``tools/``; ``qcoinf_ros/ros/`` (the nodes in ``ros/nodes/`` and the rclpy glue) never
imports ``tools/``; ``qcoinf_ros/tools/`` (the command-line tool, its harnesses, the paper's
evaluation) may import both. Checked on the source (every import statement, also those inside
functions, and the module names given to importlib) and by importing every core module in a
fresh interpreter. Entry points live in ``tools/cli/`` and ``ros/nodes/`` only: no other module
has a ``main()``.
"""

import ast
from pathlib import Path
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.check

PACKAGE = Path(__file__).resolve().parents[2] / 'qcoinf_ros'
#: The wings, from the ground up: a module may import its own wing and those before it.
WINGS = ('core', 'ros', 'tools')
#: Where the ``main()`` s are: the nodes' and the ``qcoinf`` commands'.
ENTRY_POINTS = (('ros', 'nodes'), ('tools', 'cli'))
FORBIDDEN = ('rclpy', 'rosidl', 'launch_ros')


def _forbidden(name: str) -> bool:
    top = name.split('.')[0]
    return top in FORBIDDEN or top.endswith('_msgs') or top.endswith('_interfaces')


def _core_modules():
    """Yield the core wing's modules and the package's own ``__init__``: no ROS below ros."""
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == 'core' or len(relative.parts) == 1:
            yield relative, path


def _wing(module: str) -> str:
    """Return the wing of ``qcoinf_ros.<wing>...`` (``''`` for the package itself)."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else ''


def test_the_top_level_is_the_three_wings():
    """qcoinf_ros/ holds the wings and its own ``__init__`` (and ``msg``, generated at build)."""
    top = {p.name for p in PACKAGE.iterdir() if not p.name.startswith(('_', '.'))
           and p.name != 'msg'}
    assert top == set(WINGS)
    assert all((PACKAGE / wing / '__init__.py').is_file() for wing in WINGS)


def _named_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every ``qcoinf_ros`` module a file imports or names in a string (importlib's names)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.lineno, node.module)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.match(r'qcoinf_ros\.\w+\.[\w.]*$', node.value):
            found += [(node.lineno, node.value)]
    return [(line, name) for line, name in found if name.split('.')[0] == 'qcoinf_ros']


def test_no_wing_imports_a_wing_above_it():
    """The core imports neither ros nor tools; ros does not import tools (strings count too)."""
    offenders = []
    edges: dict[tuple[str, str], int] = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        source = relative.parts[0] if len(relative.parts) > 1 else ''
        rank = WINGS.index(source) if source else -1
        for line, name in _named_modules(ast.parse(path.read_text(), str(path))):
            target = _wing(name)
            if target:
                pair = (source or 'qcoinf_ros', target)
                edges[pair] = edges.get(pair, 0) + 1
            if target and WINGS.index(target) > rank:
                where = source or 'qcoinf_ros'
                offenders.append(f'{relative}:{line} ({where}) imports {name}')
    # the wing-level import graph (pytest -s shows it): only arrows down, or within a wing
    print('\n'.join(f'{a:>5} -> {b:<5} {n:4d} imports' for (a, b), n in sorted(
        edges.items(), key=lambda e: (-WINGS.index(e[0][0]) if e[0][0] in WINGS else 1,
                                      WINGS.index(e[0][1])))))
    assert offenders == []
    # the check sees an f-string's module names and a lazy import in a function
    tree = ast.parse('def f():\n    import qcoinf_ros.tools.cli.main\n'
                     'm = f"qcoinf_ros.ros.nodes.{m}"\n')
    assert [n for _, n in _named_modules(tree)] == ['qcoinf_ros.tools.cli.main',
                                                    'qcoinf_ros.ros.nodes.']


def test_no_core_module_names_a_ros_package():
    offenders = []
    for relative, path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ''] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f'{relative}:{node.lineno} imports {n}' for n in names
                          if _forbidden(n)]
    assert offenders == []


def test_importing_every_core_module_loads_no_ros_package():
    modules = ['qcoinf_ros.' + '.'.join(r.with_suffix('').parts).replace('.__init__', '')
               for r, _ in _core_modules() if r.name != '__main__.py']
    code = ('import importlib, sys\n'
            f'for m in {modules!r}:\n    importlib.import_module(m)\n'
            'print(sorted({m.split(".")[0] for m in sys.modules}))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert len(modules) > 50 and [m for m in loaded if _forbidden(m)] == []


def test_entry_points_live_in_cli_and_nodes_only():
    """A ``main()`` elsewhere is a command hiding from ``qcoinf`` (or a node outside nodes/)."""
    offenders = []
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        if relative.parts[:2] in ENTRY_POINTS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        offenders += [f'{relative}:{node.lineno}' for node in tree.body
                      if isinstance(node, ast.FunctionDef) and node.name == 'main']
    assert offenders == []


def test_every_qcoinf_command_module_has_a_main():
    from qcoinf_ros.tools.cli.main import COMMANDS
    files = {path.stem for path in (PACKAGE / 'tools' / 'cli').glob('*.py')}
    for command, (module, _) in COMMANDS.items():
        assert module.startswith('qcoinf_ros.tools.cli.'), command
        name = module.rsplit('.', 1)[1]
        assert name in files, command
        tree = ast.parse((PACKAGE / 'tools' / 'cli' / f'{name}.py').read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == 'main' for n in tree.body), \
            command


def _module_imports() -> dict[str, set[str]]:
    """Return module -> the package modules it imports (any import, in functions too)."""
    modules = {'.'.join(p.relative_to(PACKAGE.parent).with_suffix('').parts)
               .replace('.__init__', ''): p for p in PACKAGE.rglob('*.py')}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module, *(f'{node.module}.{a.name}' for a in node.names)] \
                if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for target in targets:
                # a package's __init__ re-exporting its own modules is not an arrow back
                own = path.name == '__init__.py' and target.startswith(name + '.')
                if target in modules and target != name and not own:
                    edges.setdefault(name, set()).add(target)
    return edges


def test_no_module_imports_its_way_back_to_itself():
    """Data flows one way: the import graph of the package's modules has no cycle."""
    edges = _module_imports()
    assert 'qcoinf_ros.core.models.embedded' in edges['qcoinf_ros.core.models.registry']
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges.get(name, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_models_never_import_the_packages_above_them():
    """models/ loads checkpoints; how captioners are trained or evaluated sits above it."""
    above = ('core.captioner', 'core.monitor', 'core.serving', 'ros', 'tools')
    offenders = [(name, target) for name, targets in _module_imports().items()
                 if name.startswith('qcoinf_ros.core.models') for target in targets
                 if target.split('.', 1)[1].startswith(above)]
    assert offenders == []


def _folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and p.name != 'data'
            and not p.name.startswith(('_', '.'))}


def test_the_test_tree_mirrors_the_package():
    """test/<wing>/<package folder>/ for unit tests; graph/, fuzz/, lint/, robot/ beside."""
    tests = PACKAGE.parent / 'test'
    assert _folders(tests) - set(WINGS) == {'graph', 'fuzz', 'lint', 'robot'}
    for wing in WINGS:
        package = {p.name for p in (PACKAGE / wing).iterdir() if (p / '__init__.py').is_file()}
        assert _folders(tests / wing) - package == set(), wing
    assert not list(tests.glob('test_*.py'))  # none left at the top
    names = [p.name for p in tests.rglob('test_*.py')]
    assert len(names) == len(set(names))  # unique basenames (pytest's default import mode)


def _unit(parts: list[str] | tuple[str, ...]) -> str:
    """Return the unit of a wing: ``core.lut``, ``core.stats``, ``ros.nodes``, ``ros.qos``."""
    return '.'.join(parts[:2]) if parts[:1] and parts[0] in WINGS else '.'.join(parts[:1])


def _package_imports() -> dict[str, set[str]]:
    """Package (or module) of a wing -> the packages it imports (any import, anywhere)."""
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        source = _unit(relative.with_suffix('').parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ''] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                parts = name.split('.')
                target = _unit(parts[1:])
                if parts[0] == 'qcoinf_ros' and target and target not in (source, *WINGS):
                    edges.setdefault(source, set()).add(target)
    return edges


def _loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return loops


def test_no_import_loop_between_packages():
    """Imports inside functions count: a lazy import that hides a loop is still a loop."""
    edges = _package_imports()
    assert _loops(edges) == []
    assert 'core.quant' in edges['core.lut'] and 'core.lut' not in edges.get('core.quant', set())
    assert {'core.lut', 'core.quant'} <= edges['core.runtime']
    assert _loops({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def test_no_package_imports_a_private_name_of_another():
    """What one package uses of another is public: no ``from qcoinf_ros.x import _y`` across."""
    offenders = []
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.ImportFrom) and node.module and not node.level
                    and node.module.startswith('qcoinf_ros.')):
                continue
            if _unit(node.module.split('.')[1:]) == _unit(relative.with_suffix('').parts):
                continue  # a package's own modules may share their private helpers
            offenders += [f'{relative}:{node.lineno} imports {node.module}.{a.name}'
                          for a in node.names if a.name.startswith('_')
                          and not a.name.startswith('__')]
    assert offenders == []
