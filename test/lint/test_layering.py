"""
Layering: the numeric core never imports rclpy, rosidl or a message package.

Only ``nodes/`` (the nodes), ``ros/`` (the rclpy glue), ``cli/`` (the command-line tool) and
``bench/`` (harnesses that drive nodes) may. Checked on the source (every import statement, also
those inside functions) and by importing every core module in a fresh interpreter. Entry points
live in ``cli/`` and ``nodes/`` only: no other module has a ``main()``.
"""

import ast
from pathlib import Path
import subprocess
import sys

import pytest

pytestmark = pytest.mark.check

PACKAGE = Path(__file__).resolve().parents[2] / 'qcoinf_ros'
ROS_LAYERS = {'nodes', 'ros', 'cli', 'bench'}
FORBIDDEN = ('rclpy', 'rosidl', 'launch_ros')


def _forbidden(name: str) -> bool:
    top = name.split('.')[0]
    return top in FORBIDDEN or top.endswith('_msgs') or top.endswith('_interfaces')


def _core_modules():
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ROS_LAYERS:
            continue
        yield relative, path


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
        if relative.parts[0] in ('cli', 'nodes'):
            continue
        tree = ast.parse(path.read_text(), str(path))
        offenders += [f'{relative}:{node.lineno}' for node in tree.body
                      if isinstance(node, ast.FunctionDef) and node.name == 'main']
    assert offenders == []


def test_every_qcoinf_command_module_has_a_main():
    from qcoinf_ros.tools.cli.main import COMMANDS
    files = {path.stem for path in (PACKAGE / 'cli').glob('*.py')}
    for command, (module, _) in COMMANDS.items():
        assert module.startswith('qcoinf_ros.tools.cli.'), command
        name = module.rsplit('.', 1)[1]
        assert name in files, command
        tree = ast.parse((PACKAGE / 'cli' / f'{name}.py').read_text())
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
    above = ('captioner', 'experiments', 'cli', 'nodes', 'bench', 'monitor', 'serving')
    offenders = [(name, target) for name, targets in _module_imports().items()
                 if name.startswith('qcoinf_ros.core.models') for target in targets
                 if target.split('.')[1] in above]
    assert offenders == []


def test_the_test_tree_mirrors_the_package():
    """test/<package folder>/ for unit tests; graph/ (processes over DDS), fuzz/, lint/, robot/."""
    tests = PACKAGE.parent / 'test'
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name not in ('data',)
               and not p.name.startswith(('_', '.'))}
    package = {p.name for p in PACKAGE.iterdir() if (p / '__init__.py').is_file()}
    assert folders - package == {'graph', 'fuzz', 'lint', 'robot'}
    assert not list(tests.glob('test_*.py'))  # none left at the top
    names = [p.name for p in tests.rglob('test_*.py')]
    assert len(names) == len(set(names))  # unique basenames (pytest's default import mode)


def _package_imports() -> dict[str, set[str]]:
    """Top-level package of qcoinf_ros -> the packages it imports (any import, anywhere)."""
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        source = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ''] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                parts = name.split('.')
                if parts[0] == 'qcoinf_ros' and len(parts) > 1 and parts[1] != source:
                    edges.setdefault(source, set()).add(parts[1])
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
    assert 'quant' in edges['lut'] and 'lut' not in edges.get('quant', set())
    assert {'lut', 'quant'} <= edges['runtime']
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
            if node.module.split('.')[1] == relative.parts[0]:
                continue  # a package's own modules may share their private helpers
            offenders += [f'{relative}:{node.lineno} imports {node.module}.{a.name}'
                          for a in node.names if a.name.startswith('_')
                          and not a.name.startswith('__')]
    assert offenders == []
