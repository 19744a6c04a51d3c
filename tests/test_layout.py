"""The package's shape: three layers with imports flowing down, a light factory import, and
every registered name reachable through an entry point in a fresh process. The tests' shape:
helpers imported from ``tests/helpers``, never from conftest, and each fixture defined once.

The import graph is read from the source (imports inside functions included, since lazy
imports hide circles from a plain ``import``), not from what happens to be loaded.
"""

import ast
import configparser
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

import spacy_gliner

PACKAGE = Path(spacy_gliner.__file__).parent
ROOT = PACKAGE.parent
TESTS = Path(__file__).resolve().parent
# layer of each module: 0 the torch-only GLiNER core, 1 the spaCy layer, 2 the tools around them
TOOLS = (
    "spacy_gliner.cli",
    "spacy_gliner.data",
    "spacy_gliner.scale",
    "spacy_gliner.redact",
    "spacy_gliner.markup",
    "spacy_gliner.__main__",
)
SPACY_FREE = ("spacy", "thinc", "srsly", "typer", "wasabi")


def layer(module: str) -> int:
    if module.startswith("spacy_gliner.model"):
        return 0
    return 2 if module.startswith(TOOLS) else 1


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Set[str]:
    """Every module this file imports, anywhere in it, as absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # "from . import checkpoint"
    return found


@pytest.fixture(scope="module")
def graph() -> Dict[str, Set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def test_imports_flow_down_the_layers(graph):
    upward = [
        f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a) and a != "spacy_gliner"
    ]
    assert not upward, upward


def test_the_core_knows_nothing_of_spacy():
    core = [p for p in PACKAGE.rglob("*.py") if module_name(p).startswith("spacy_gliner.model")]
    assert len(core) >= 6
    offending = {module_name(p): sorted(m for m in imports_of(p) if m.split(".")[0] in SPACY_FREE) for p in core}
    assert not {k: v for k, v in offending.items() if v}


def test_no_import_circle(graph):
    def cycle_from(start: str) -> List[str]:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return []

    circles = [cycle_from(m) for m in graph if cycle_from(m)]
    assert not circles, circles[0]


def test_the_cli_writes_files_without_importing_checkpoint_code(graph):
    """File modes (the umask) come from the core's neutral ``files`` module, which checkpoint
    writing shares: no CLI module imports the checkpoint reader and writer for them."""
    cli = [m for m in graph if m.startswith("spacy_gliner.cli")]
    assert any("spacy_gliner.model.files" in graph[m] for m in cli)
    assert not [m for m in cli if "spacy_gliner.model.checkpoint" in graph[m]]


def test_graph_sees_lazy_imports(graph):
    """The graph is only a guard if it sees imports inside functions."""
    assert "spacy_gliner.model.checkpoint" in graph["spacy_gliner.architectures"]
    assert "spacy_gliner.model.search" in graph["spacy_gliner.component"]


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT.parent))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_blank_pipeline_imports_no_heavy_module_of_ours():
    loaded = json.loads(
        _fresh(
            "import json, sys, spacy; spacy.blank('en'); print(json.dumps(sorted(m for m in sys.modules if"
            " m.startswith('spacy_gliner'))))"
        )
    )
    assert "spacy_gliner.component" in loaded  # spaCy did import the factory module
    heavy = (
        "spacy_gliner.data",
        "spacy_gliner.cli",
        "spacy_gliner.loading",
        "spacy_gliner.render",
        "spacy_gliner.scale",
    )
    heavy += (
        "spacy_gliner.model.network",
        "spacy_gliner.model.checkpoint",
        "spacy_gliner.model.tokenizers",
        "spacy_gliner.model.search",
    )
    assert not [m for m in loaded if m.startswith(heavy)]


def _registered_names() -> Dict[str, Set[str]]:
    """Names in the source's registry decorators, by entry-point group."""
    groups = {"architectures": "spacy_architectures", "misc": "spacy_misc", "readers": "spacy_readers"}
    groups.update(scorers="spacy_scorers", schedules="thinc_schedules", tokenizers="spacy_tokenizers")
    found: Dict[str, Set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf8")
        for kind, name in re.findall(r'registry\.(\w+)\("([^"]+)"\)', text):
            found.setdefault(groups[kind], set()).add(name)
        for name in re.findall(r'Language\.factory\(\s*"([^"]+)"', text):
            found.setdefault("spacy_factories", set()).add(name)
    return found


def test_every_registered_name_has_an_entry_point():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = {
        group: {line.split("=")[0].strip() for line in config["options.entry_points"][group].strip().splitlines()}
        for group in config["options.entry_points"]
    }
    registered = _registered_names()
    assert sum(map(len, registered.values())) >= 7
    for group, names in registered.items():
        assert names <= declared.get(group, set()), (group, names)


@pytest.mark.parametrize(
    "registry_name,name",
    [
        ("architectures", "spacy_gliner.GLiNERModel.v1"),
        ("architectures", "spacy_gliner.GLiNEREncoderModel.v1"),
        ("misc", "spacy_gliner.TrainingSettings.v1"),
        ("readers", "spacy_gliner.Corpus.v1"),
        ("scorers", "spacy_gliner.gliner_scorer.v1"),
        ("schedules", "spacy_gliner.warmup_cosine.v1"),
        ("tokenizers", "spacy_gliner.Tokenizer.v1"),
    ],
)
def test_a_fresh_process_resolves_each_registered_name(registry_name, name):
    code = (
        "import sys; from spacy.util import registry; assert 'spacy_gliner' not in sys.modules; "
        f"func = registry.{registry_name}.get({name!r}); print(func.__module__)"
    )
    assert _fresh(code).startswith("spacy_gliner.")


def test_the_registered_names_in_this_test_are_all_there_are():
    listed = {name for _, name in test_a_fresh_process_resolves_each_registered_name.pytestmark[0].args[1]}
    registered = set().union(*(names for group, names in _registered_names().items() if group != "spacy_factories"))
    assert listed == registered


def test_the_readme_names_every_module():
    """The README's architecture table names each module of the tree (a sub-package of the
    core in one row), and no module that is gone; the diagram names those of the core and the
    spaCy layer: a moved or new module fails here until the README says so."""
    section = (ROOT / "README.md").read_text(encoding="utf8").split("## Architecture", 1)[1].split("\n## ", 1)[0]
    table = {
        name for row in re.findall(r"^\| (`.+?) \| ", section, flags=re.M) for name in re.findall(r"`([^`]+)`", row)
    }
    nested = {p.parent.relative_to(PACKAGE).as_posix() + "/" for p in PACKAGE.glob("*/*/__init__.py")}
    tree = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    tree = {m for m in tree if not m.startswith(tuple(nested))} | nested
    assert (tree - table, table - tree) == (set(), set())
    diagram = set(re.findall(r"\w+\.py|\w+/", section.split("```", 2)[1]))
    assert {
        m.removeprefix("model/") for m in tree if layer(module_name(PACKAGE / m.rstrip("/"))) < 2
    } - diagram == set()


def _test_modules() -> List[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "fixture"
        or isinstance(target, ast.Name)
        and target.id == "fixture"
    )


def test_no_test_module_imports_from_conftest():
    """conftest holds fixtures and hooks; what tests import lives in ``tests/helpers``."""
    offending = []
    for path in _test_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offending += [f"{path.relative_to(TESTS)}: {name}" for name in names if name.split(".")[-1] == "conftest"]
    assert not offending, offending


def test_each_fixture_is_defined_once_in_conftest_or_one_test_module():
    """A fixture redefined in another module means two things under one name, or one thing written twice."""
    where: Dict[str, List[str]] = {}
    for path in _test_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(map(_is_fixture, node.decorator_list)):
                where.setdefault(node.name, []).append(path.relative_to(TESTS).as_posix())
    assert len(where) >= 20  # the walk sees the fixtures
    twice = {name: files for name, files in where.items() if len(files) > 1}
    outside = {name: files for name, files in where.items() if any(f.startswith("helpers/") for f in files)}
    assert (twice, outside) == ({}, {})
