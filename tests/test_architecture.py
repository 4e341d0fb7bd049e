"""The shape of the code that keeps it easy to extend (STYLE.md, DESIGN.md): small modules
and functions, no import circle, algorithms that never reach the env layer, and no algorithm
or family named outside its own package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "mrft"


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Every import between mrft modules, lazy ones too; a package importing its own children
    and a module importing its own package do not count."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if not target or target == name:
                    continue
                if (package and target.startswith(name + ".")) or \
                        (name.startswith(target + ".") and modules[target].name == "__init__.py"):
                    continue
                edges[name].add(target)
    return edges


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_module_over_500_lines_and_no_function_over_80():
    long_modules, long_functions = [], []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 500:
            long_modules.append(str(path.relative_to(SRC)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and node.end_lineno - node.lineno + 1 > 80:
                long_functions.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert long_modules == [] and long_functions == []


def test_no_import_circle_and_algorithms_never_reach_the_env_layer():
    edges = _imports(_modules())
    assert _circles(edges) == []
    env_layer = ("mrft.envs", "mrft.episodes", "mrft.rollout", "mrft.collectors")
    reaching = {m: sorted(t for t in targets if t.startswith(env_layer))
                for m, targets in edges.items() if m.startswith("mrft.algos")}
    assert {m: t for m, t in reaching.items() if t} == {}


def _literals(pattern: str, *outside: str) -> list[str]:
    """String literals matching ``pattern`` in code outside the packages ``outside``."""
    hits = []
    for path in PACKAGE.rglob("*.py"):
        if any(path.is_relative_to(PACKAGE / package) for package in outside):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(pattern, node.value):
                hits.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    return hits


def test_algorithms_are_named_only_in_their_package_and_families_only_in_theirs():
    from mrft import algos, envs
    from mrft.bench.methods import all_methods

    algorithms = "|".join(algos.REGISTRY)
    families = "|".join(envs.REGISTRY)
    # "mrft" alone is also the project's name (the program, the W&B project, the version key)
    # (the reference rows, oracle and context-free, are roles every bench knows)
    names = "|".join(re.escape(name) for name, method in all_methods().items()
                     if name != "mrft" and not method.reference)
    assert _literals(f"({names})", "algos") == []
    comparisons = re.compile(r"""algo\s*(==|!=)\s*["']|["']\s*(==|!=)\s*[\w.]*algo\b""")
    assert [str(p) for p in PACKAGE.rglob("*.py") if not p.is_relative_to(PACKAGE / "algos")
            and comparisons.search(p.read_text(encoding="utf-8"))] == []
    # algorithms do not name families either (GRPO's "process" advantage is TRL's word)
    assert _literals(f"({families})(:.*)?", "envs", "algos") == []
    assert _literals(f"({families}):.*", "envs") == []
    # attribute access to an algorithm's section (cfg.mrft) outside algos/
    sections = re.compile(rf"\.({algorithms})\.")
    offenders = [f"{p.relative_to(SRC)}" for p in PACKAGE.rglob("*.py")
                 if not p.is_relative_to(PACKAGE / "algos")
                 and sections.search(p.read_text(encoding="utf-8").replace("mrft.", ""))]
    assert offenders == []
