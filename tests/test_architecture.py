"""The house stays in order: no import circles anywhere in ``askdb``, and imports run one way
(front ends -> runtime -> workflow -> parts -> foundations), read from the source with ``ast``.

Lazy imports inside functions and ``TYPE_CHECKING`` blocks count: a circle that only closes at
run time still breaks ``python -m`` and leaves a newcomer unable to tell which module is above.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import askdb

PACKAGE = Path(askdb.__file__).parent

# Lowest first. A module may import its own layer and any layer below, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundations",
        (
            "askdb.errors",
            "askdb.settings",
            "askdb.db",
            "askdb.files",
            "askdb.frames",
            "askdb.export",
            "askdb.localdb",
            "askdb._moved",
        ),
    ),
    ("parts", ("askdb.schemas", "askdb.rag", "askdb.prompts", "askdb.llm", "askdb.sql", "askdb.forecast")),
    ("workflow", ("askdb.analyst", "askdb.clarify", "askdb.events", "askdb.assistant")),
    ("tools", ("askdb.eval", "askdb.finetune", "askdb.testing")),
    ("runtime", ("askdb.runtime",)),
    (
        "front ends",
        (
            "askdb.serving",
            "askdb.integrations",
            "askdb.ui",
            "askdb.cli",
            "askdb.cli_common",
            "askdb.cli_render",
            "askdb.__main__",
            "askdb.service",
            "askdb.audit",
        ),
    ),
]
# Every folder's cli.py is a front end wherever it sits.
FRONT_END_SUFFIXES = (".cli",)


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source (top level or lazily)."""
    modules = module_files(root)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets |= {t for alias in node.names if (t := resolve(alias.name))}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if target := resolve(full if full in modules else base):
                        targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import one another round a circle (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int | None:
    if module.endswith(FRONT_END_SUFFIXES):
        return len(LAYERS) - 1
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    found = cycles(import_graph(PACKAGE))
    assert found == [], "import circles (break each by moving the shared part down): " + "; ".join(
        " <-> ".join(group) for group in found
    )


def test_imports_run_one_way() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in import_graph(PACKAGE).items()
        for target in sorted(targets)
        if layer_of(module) is not None
        and layer_of(target) is not None
        and layer_of(target) > layer_of(module)
        # Deprecated aliases point down to where their module moved: that is their whole job.
        and module not in {"askdb.service", "askdb.audit"}
    ]
    assert upward == []


def test_every_module_has_a_layer() -> None:
    homeless = [m for m in import_graph(PACKAGE) if m != "askdb" and layer_of(m) is None]
    assert homeless == [], "add these to LAYERS in tests/test_architecture.py: " + ", ".join(homeless)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


def test_the_check_sees_a_lazy_circle_through_a_third_module(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "cli.py": "from pkg.sub.cli import group\n",
            "sub/__init__.py": "",
            "sub/cli.py": "def group():\n    from pkg.helpers import x\n",
            "helpers.py": "from . import cli\n",
            "leaf.py": "import pkg.helpers\n",
        },
    )
    assert cycles(import_graph(root)) == [["pkg.cli", "pkg.helpers", "pkg.sub.cli"]]


def test_the_check_resolves_relative_and_from_package_imports(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "",
            "a/x.py": "from ..b import y\n",
            "b/__init__.py": "",
            "b/y.py": "from pkg.a import x\n",
        },
    )
    graph = import_graph(root)
    assert graph["pkg.a.x"] == {"pkg.b.y"} and graph["pkg.b.y"] == {"pkg.a.x"}
    assert cycles(graph) == [["pkg.a.x", "pkg.b.y"]]


@pytest.mark.parametrize("module", ["askdb.cli", "askdb"])
def test_python_dash_m_runs_the_command_line(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "sql" in done.stdout and "finetune" in done.stdout


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("askdb.serving.base", "askdb.llm.base", "LLM"),
        ("askdb.serving.registry", "askdb.llm.registry", "create_llm"),
        ("askdb.serving.extract", "askdb.llm.extract", "extract"),
        ("askdb.serving.ollama_backend", "askdb.llm.ollama_backend", "OllamaLLM"),
        ("askdb.serving.openai_backend", "askdb.llm.openai_backend", "OpenAICompatibleLLM"),
        ("askdb.serving.replay_backend", "askdb.llm.replay_backend", "ReplayLLM"),
        ("askdb.service", "askdb.runtime.service", "AssistantService"),
        ("askdb.audit", "askdb.runtime.audit", "audit_log"),
    ],
)
def test_moved_modules_import_from_their_old_path_with_a_warning(old: str, new: str, name: str) -> None:
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        f"assert getattr(old, {name!r}) is getattr(new, {name!r})\n"
        "assert [w.category.__name__ for w in caught] == ['DeprecationWarning'], caught\n"
        f"assert {new!r} in str(caught[0].message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
