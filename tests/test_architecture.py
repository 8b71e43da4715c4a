"""The package layout's import rules (docs/architecture.md), read from the source with ast."""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
MODEL_PACKAGES = ("sketch_rnn", "wae_style")
# Subpackage of common -> module prefixes it must never import.
NEVER = {
    "common.strokes": MODEL_PACKAGES + ("common.training", "common.scorer", "common.studio"),
    "common.images": MODEL_PACKAGES + ("common.strokes", "common.training", "common.scorer",
                                       "common.studio"),
    "common.training": MODEL_PACKAGES + ("common.strokes", "common.images", "common.scorer",
                                         "common.studio"),
    "common.scorer": MODEL_PACKAGES + ("common.studio",),
}
# The studio reaches models only through their clients (and latents' method names).
STUDIO_MAY_USE = ("sketch_rnn.client", "sketch_rnn.latents", "wae_style.client")
TRAINING_CODE = ("common.training", "sketch_rnn.train", "wae_style.train", "common.scorer.train")


def _module(path):
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def imports(path):
    """Every module a file imports (absolute names; `from a import b` gives a.b and a)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
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
    bad = {_module(f): _hits(imports(f), NEVER[package]) for f in _files(package)}
    assert not {k: v for k, v in bad.items() if v}


def test_studio_uses_only_the_clients():
    for f in _files("common.studio"):
        names = imports(f)
        models = [n for n in names if n.split(".")[0] in MODEL_PACKAGES]
        assert all(n.startswith(STUDIO_MAY_USE) for n in models), (_module(f), models)
        assert not _hits(names, TRAINING_CODE), _module(f)


def test_common_holds_only_its_subpackages_and_tiny_modules():
    modules = sorted(p.name for p in (REPO / "common").iterdir()
                     if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    assert modules == ["__init__.py", "cli.py", "errors.py", "exports.py", "files.py",
                       "hardware.py", "images", "scorer", "strokes", "studio", "training"]
    for tiny in ("cli.py", "errors.py", "exports.py", "files.py", "hardware.py"):
        assert len((REPO / "common" / tiny).read_text().splitlines()) < 80, tiny


def test_no_model_package_imports_the_studio_and_scripts_are_thin():
    for package in MODEL_PACKAGES + ("common.scorer", "common.training"):
        for f in _files(package):
            assert not _hits(imports(f), ("common.studio", "scripts")), _module(f)
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
