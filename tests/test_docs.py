"""README.md and docs/ say only what is true of this repository.

Every relative link and image exists; no absolute path of a machine appears; every
`python -m scripts.X --flag` command names a module that exists and flags it defines; every
repository path or dotted module name written in backticks exists; every file the examples
read under `$DATA` (../shared/data) exists there; and the text speaks about
the product, not about how the work was organised (no issue numbers, no sessions, no machines
lent or reclaimed). Pure text and ast: nothing is imported.
"""

import ast
import functools
import io
import itertools
import pathlib
import re
import tokenize

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# Top-level names that make a backticked path or dotted name a repository reference.
TOPS = ("common", "sketch_rnn", "wae_style", "studio", "tests", "scripts", "benchmarks", "docs",
        "demo", "experiments", "reports", "commands")

# --- what is checked -------------------------------------------------------------------------


def markdown_files(repo=REPO):
    return [repo / "README.md"] + sorted((repo / "docs").rglob("*.md"))


def report_files(repo=REPO):
    """Committed machine-written reports (every JSON and SVG under docs/): the absolute-path
    check applies to all, the wording check to the JSON."""
    return sorted(p for suffix in ("*.json", "*.svg", "*.txt", "*.csv")
                  for p in (repo / "docs").rglob(suffix))


def code_files(repo=REPO):
    """The repository's Python files, whose comments and docstrings are checked for paths."""
    return sorted(p for top in TOPS for p in (repo / top).rglob("*.py")
                  if "__pycache__" not in p.parts)


def comments_and_docstrings(text):
    """A Python file's comments and docstrings, the rest blanked (line numbers kept)."""
    lines = [""] * (text.count("\n") + 1)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            lines[tok.start[0] - 1] += tok.string
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            doc = node.body[0]
            for i, line in enumerate(doc.value.value.split("\n")):
                lines[doc.lineno - 1 + i] += " " + line
    return "\n".join(lines)


# --- markdown structure ----------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")


def _blank_fences(text):
    """The text with fenced code blocks blanked (line numbers kept), and the blocks only."""
    prose, code, inside = [], [], False
    for line in text.split("\n"):
        fence = bool(_FENCE.match(line))
        if fence:
            inside = not inside
        in_code = inside or fence
        prose.append("" if in_code else line)
        code.append(line if in_code else "")
    return "\n".join(prose), "\n".join(code)


def _line(text, offset):
    return text.count("\n", 0, offset) + 1


_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)


def _without_inline_code(prose):
    return _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), prose)


# --- links and images ------------------------------------------------------------------------

_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I)


def anchors(text):
    """The #anchors of a page's headings, as GitHub makes them (duplicates get -1, -2, ...)."""
    seen, out = {}, set()
    for line in _blank_fences(text)[0].split("\n"):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return out


def check_links(path, text):
    """Relative links and images resolve from the file's folder, and a #fragment into a page
    names one of its headings (http(s), mailto and other schemes are skipped)."""
    prose = _without_inline_code(_blank_fences(text)[0])
    problems = []
    for m in itertools.chain(_LINK.finditer(prose), _IMG.finditer(prose)):
        target = m.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            continue
        rel, _, fragment = target.split("?", 1)[0].partition("#")
        page = path.parent / rel if rel else path
        if not page.exists():
            problems.append(f"{path.name}:{_line(prose, m.start())}: missing link target {target}")
        elif fragment and page.suffix == ".md" and fragment not in anchors(page.read_text()):
            problems.append(f"{path.name}:{_line(prose, m.start())}: no heading for {target}")
    return problems


# --- absolute paths of a machine -------------------------------------------------------------

# A path that starts at the root of a machine's file system: the usual homes of users, data,
# temporary files and installed software. A word character, dot, slash, tilde, dollar or colon
# just before the slash makes it part of something else: a URL path (https://x.org/home/...),
# a relative path (../tmp, ../shared/data), $TMPDIR/..., ~/work.
_ABSOLUTE = re.compile(
    r"(?<![\w.~$:/\\-])/(?:work|tmp|root|home|Users|mnt|opt|var|usr|srv|data|scratch|private|"
    r"content|kaggle|workspace)(?![\w.-])(?:/[^\s\"'`)\]>,;]*)?"
    r"|(?<![\w/])[A-Za-z]:\\\\?[\w.$-]")
# Tool paths a reader may legitimately be told about.
ALLOWED_ABSOLUTE = ("/usr/bin/env",)


def check_absolute_paths(path, text):
    problems = []
    for m in _ABSOLUTE.finditer(text):
        if m.group(0).rstrip(".:") in ALLOWED_ABSOLUTE:
            continue
        problems.append(f"{path.name}:{_line(text, m.start())}: absolute path {m.group(0)}")
    return problems


# --- how the work was organised --------------------------------------------------------------

_WORK_LOG = re.compile(
    r"\bissues?\s+#?\d+|\bPR\s*#?\d+|\bpull request\s+#?\d+|(?<![\w&#/])#\d+\b"
    r"|\bsessions?\b|\bwork periods?\b|\blent\b|\breclaimed\b"
    # Diary wording: a result is stated as a result.
    r"|\bbefore the fix(?:es)?\b|\bafter the fix(?:es)?\b|\bin progress\b|\bwe tried\b"
    r"|\b(?:a|the|its) lost machine\b|\blost with (?:its|the) machine\b|\bearlier today\b", re.I)
# Uses of these words that are about the product, listed one by one.
ALLOWED_WORDS = (
    # Drawing indices in docs/pretrained.md's completion figure ("sheep #0", "rain #1").
    re.compile(r"\b(?:ambulance|bicycle|bird|rabbit|sheep|rain|rhinoceros|mosquito|pool) #\d\b"),
    # pytest's test session and fixture scope, and Flask's session object.
    re.compile(r"\bsession[- ]scoped\b|\bsession fixture\b|scope=[\"']session[\"']"
               r"|\btest session\b|\bflask\.session\b", re.I),
)


def check_wording(path, text):
    allowed = [m.span() for pattern in ALLOWED_WORDS for m in pattern.finditer(text)]
    problems = []
    for m in _WORK_LOG.finditer(text):
        if any(a <= m.start() and m.end() <= b for a, b in allowed):
            continue
        problems.append(f"{path.name}:{_line(text, m.start())}: work-log wording {m.group(0)!r}")
    return problems


# --- the repository's modules ----------------------------------------------------------------


def module_file(dotted, repo=REPO):
    """The .py file of a repository module or package, or None."""
    base = repo.joinpath(*dotted.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


@functools.lru_cache(maxsize=None)
def _tree(file):
    return ast.parse(pathlib.Path(file).read_text())


@functools.lru_cache(maxsize=None)
def defined_names(file):
    """Every name a file defines at any depth: defs, classes, assignments, self.x, imports."""
    names = set()
    for node in ast.walk(_tree(file)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name):
                        names.add(t.id)
                    elif isinstance(t, ast.Attribute):
                        names.add(t.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _all_names(repo):
    out = set()
    for top in TOPS:
        for f in (repo / top).rglob("*.py"):
            out |= defined_names(f)
    return frozenset(out)


def dotted_exists(dotted, repo=REPO):
    """a.b.c names a module a.b.c, or a module a.b with c defined in it (then any .d in the repo)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        file = module_file(".".join(parts[:i]), repo)
        if file is None:
            continue
        rest = parts[i:]
        if not rest:
            return True
        if rest[0] not in defined_names(file) and module_file(".".join(parts[:i + 1]), repo) is None:
            return False
        return all(name in defined_names(file) or name in _all_names(repo) for name in rest[1:])
    return False


# --- commands --------------------------------------------------------------------------------

ABSL_BUILTINS = frozenset((
    "help", "helpfull", "helpshort", "helpxml", "flagfile", "undefok", "verbosity", "v",
    "logtostderr", "alsologtostderr", "log_dir", "stderrthreshold", "showprefixforinfo",
    "only_check_args", "pdb_post_mortem", "pdb", "run_with_pdb", "run_with_profiling",
    "profile_file", "use_cprofile_for_profiling", "logger_levels"))


@functools.lru_cache(maxsize=None)
def script_flags(file):
    """(flags, boolean flags) a module defines with absl's flags.DEFINE_* or argparse."""
    names, bools, absl = set(), set(), False
    for node in ast.walk(_tree(file)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if func.startswith("DEFINE_"):
            absl = True
            first = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "name"), None)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
                if func in ("DEFINE_bool", "DEFINE_boolean"):
                    bools.add(first.value)
        elif func == "add_argument":
            names |= {a.value[2:] for a in node.args if isinstance(a, ast.Constant)
                      and isinstance(a.value, str) and a.value.startswith("--")}
            names.add("help")
    if absl:
        names |= ABSL_BUILTINS
        names |= {"no" + b for b in bools}
    return frozenset(names)


_CONTINUATION = re.compile(r"\\[ \t]*\n")
# `python -m pkg.mod` (python, python3, .venv/bin/python), or `scripts.X --flag` in prose.
_COMMAND = re.compile(r"\bpython3?\s+-m\s+([A-Za-z_][\w.]*)|(?<![\w./-])(scripts\.\w+)(?=\s+--)")
# Where a command's arguments end: a comment, a shell operator, the end of a line.
_ARGS_END = re.compile(r"\s#|;|&&|\|\||\||\s>|\n|\)")


def _commands(text, lines, offset=0):
    """(module, its line, arguments, the line of each argument's start) of each command.

    `text` starts at `offset` in `lines`, the page's text as far as line numbers go.
    """
    for m in _COMMAND.finditer(text):
        args = text[m.end():]
        end = _ARGS_END.search(args)
        args = args[:end.start()] if end else args
        yield (m.group(1) or m.group(2), _line(lines, offset + m.start()),
               [(flag.group(1), _line(lines, offset + m.end() + flag.start()))
                for flag in re.finditer(r"(?<!\S)--([A-Za-z][\w-]*)", args)])


def check_commands(path, text, repo=REPO):
    """Each command names an existing module and only flags that module defines.

    In code blocks a command runs to the end of its line (backslash continuations go on);
    in prose it is the inline code span that holds it, which may wrap over lines.
    """
    prose, code = _blank_fences(text)
    # A continuation becomes spaces and a "\r": the command goes on, the line count is kept.
    code = _CONTINUATION.sub(lambda m: " " * (len(m.group(0)) - 1) + "\r", code)
    found = list(_commands(code, code.replace("\r", "\n")))
    for span in _INLINE_CODE.finditer(prose):
        found += _commands(span.group(2).replace("\n", "\r"), prose, span.start(2))
    problems = []
    for module, line, flags in sorted(found, key=lambda f: f[1]):
        if module.split(".")[0] not in TOPS:
            continue
        file = module_file(module, repo)
        if file is None:
            problems.append(f"{path.name}:{line}: no module {module}")
            continue
        problems += [f"{path.name}:{at}: {module} has no flag --{flag}"
                     for flag, at in flags if flag not in script_flags(file)]
    return problems


# --- paths and module names in backticks -----------------------------------------------------

_TOP = "|".join(TOPS)
_PATH = re.compile(rf"(?<![\w./-])((?:{_TOP})/[\w./*{{}},-]*)")
# Folders of ../shared, beside the repository, written as if they were in it.
_SHARED_AS_LOCAL = re.compile(r"(?<![\w./-])((?:seeds|data/(?:sketches|images|image_corpus|weights|"
                              r"pretrained_sketch_rnn))/[\w./-]*)")
_DOTTED = re.compile(rf"(?<![\w./-])((?:{_TOP})(?:\.[A-Za-z_]\w*)+)(?![\w/])")
_FILE_SUFFIXES = (".py", ".md", ".json", ".png", ".svg", ".html", ".css", ".js", ".npz", ".cfg",
                  ".txt", ".lock", ".sh", ".toml")


def _expand_braces(path):
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",")
            for p in _expand_braces(path[:m.start()] + alt + path[m.end():])]


def _path_exists(rel, repo):
    rel = re.sub(r"(::\w+)+$|:\d+(-\d+)?$", "", rel.rstrip(".,:;"))
    for candidate in _expand_braces(rel):
        if "*" in candidate:
            if not any(repo.glob(candidate)):
                return False
            continue
        target = repo / candidate
        if target.is_dir():
            # A folder counts only when it holds files (git keeps no empty folder).
            if not any(p.is_file() and "__pycache__" not in p.parts for p in target.rglob("*")):
                return False
        elif not target.is_file():
            return False
    return True


def check_backtick_references(path, text, repo=REPO):
    prose = _blank_fences(text)[0]
    problems = []
    for span in _INLINE_CODE.finditer(prose):
        code, where = span.group(2), f"{path.name}:{_line(prose, span.start())}"
        if "..." in code or "<" in code:
            continue  # A placeholder, not a path.
        if prose[span.start() - 1:span.start()] == "[" and prose.startswith("](", span.end()):
            continue  # A link's text: the link itself is checked, relative to the page.
        for m in _PATH.finditer(code):
            if not _path_exists(m.group(1), repo):
                problems.append(f"{where}: no such path {m.group(1)}")
        for m in _SHARED_AS_LOCAL.finditer(code):
            if not _path_exists(m.group(1), repo):
                problems.append(f"{where}: no such path {m.group(1)} (../shared/{m.group(1)}?)")
        for m in _DOTTED.finditer(code):
            name = m.group(1)
            if name.endswith(_FILE_SUFFIXES) or code[m.end():m.end() + 1] == "/":
                if not _path_exists(name, repo):
                    problems.append(f"{where}: no such file {name}")
            elif not dotted_exists(name, repo):
                problems.append(f"{where}: no module or name {name}")
    return problems


# --- shell variables in code blocks ----------------------------------------------------------

_PY_FENCE = re.compile(r"^\s*```(?:python|py)\s*$")


def check_variables(path, text):
    """A Python block uses no shell variable ($DATA is not expanded there), and no shell
    line defines a variable from itself (DATA=$DATA)."""
    problems, lang = [], None
    for n, line in enumerate(text.split("\n"), 1):
        if _FENCE.match(line):
            lang = ("python" if _PY_FENCE.match(line) else "other") if lang is None else None
            continue
        if lang == "python" and re.search(r"\$\{?[A-Z_]{2,}", line):
            problems.append(f"{path.name}:{n}: shell variable in Python code")
        m = re.match(r"\s*([A-Za-z_]\w*)=\$\{?\1\b", line)
        if lang == "other" and m:
            problems.append(f"{path.name}:{n}: {m.group(1)} defined from itself")
    return problems


MARKDOWN_CHECKS = (check_links, check_absolute_paths, check_wording, check_commands,
                   check_backtick_references, check_variables)
TEXT_ONLY = (check_links, check_absolute_paths, check_wording, check_variables)


def check_markdown(path, repo=REPO):
    text = path.read_text()
    out = []
    for check in MARKDOWN_CHECKS:
        out += check(path, text) if check in TEXT_ONLY \
            else check(path, text, repo)
    return out


# --- the shared data the examples read --------------------------------------------------------

# The folder beside a clone that the examples read as $DATA (and CI has).
DATA_ROOT = REPO.parent / "shared" / "data"
_DATA_PATH = re.compile(r"(?:\$\{?DATA\}?|(?<![\w.])\.\./shared/data)(/[\w./-]*)")


def check_data_paths(path, text, data_root=DATA_ROOT):
    """Every file or folder named under $DATA or ../shared/data exists there.

    A sketch reference's `:split:index` ends the path; before a glob (`*`, `{a,b}`) its folder
    must exist.
    """
    problems = []
    for m in _DATA_PATH.finditer(text):
        rel = m.group(1).rstrip(".,;:").lstrip("/")
        target = data_root / rel
        if text[m.end():m.end() + 1] in ("*", "{"):
            target = target.parent
        if not target.exists():
            problems.append(f"{path.name}:{_line(text, m.start())}: no shared data {m.group(0)}")
    return problems


# --- the tests -------------------------------------------------------------------------------


def _relative(path):
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("check", MARKDOWN_CHECKS, ids=lambda c: c.__name__)
def test_markdown(check):
    problems = []
    for path in markdown_files():
        text = path.read_text()
        found = check(path, text) if check in TEXT_ONLY \
            else check(path, text, REPO)
        problems += [f"{_relative(path.parent)}/{p}" for p in found]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("check", (check_absolute_paths, check_wording), ids=lambda c: c.__name__)
def test_committed_reports(check):
    problems = []
    for path in report_files():
        if check is check_wording and path.suffix != ".json":
            continue  # SVG colours (#000000) are not issue numbers.
        problems += [f"{_relative(path.parent)}/{p}" for p in check(path, path.read_text())]
    assert not problems, "\n".join(problems)


def test_code_comments_name_no_machine_paths():
    problems = []
    for path in code_files():
        text = comments_and_docstrings(path.read_text())
        problems += [f"{_relative(path.parent)}/{p}" for p in check_absolute_paths(path, text)]
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not DATA_ROOT.is_dir(), reason="no ../shared/data beside this clone")
def test_data_paths():
    problems = []
    for path in markdown_files():
        problems += [f"{_relative(path.parent)}/{p}" for p in check_data_paths(path, path.read_text())]
    assert not problems, "\n".join(problems)


def test_there_is_something_to_check():
    assert len(markdown_files()) > 10 and len(report_files()) > 20 and len(code_files()) > 100
    assert "model" in script_flags(module_file("scripts.sample"))
    assert "nooverwrite" in script_flags(module_file("scripts.train_sketch_rnn"))
    assert "reps" in script_flags(module_file("benchmarks.train_sketch_rnn"))


PLANTED = """\
# A page with stale references

See [the map](docs/architecture.md) and [gone](missing/page.md#part), ![old](old.png),
<img src="nowhere.svg" width="10">, [web](https://example.org/work/x) and [here](#top),
[the title](#a-page-with-stale-references), [a section](docs/architecture.md#gone).

```bash
.venv/bin/python -m scripts.sample --model=workdirs/sheep \\
    --temperature=0.5 --no_such_flag=1   # --not_a_flag_either in a comment
python -m scripts.no_such_script --x=1
python -m benchmarks.train_sketch_rnn --reps=3 --nope
python -m scripts.train_sketch_rnn --nooverwrite --workdir=w --noworkdir
```

`scripts.export_sketch_rnn --workdir=W --out=DIR --bogus`, then `common/strokes/formats.py`,
`common/nothing_here.py`, `sketch_rnn.client.SketchModel`, `sketch_rnn.client.NoSuchThing`,
`common.stroke_data`, `reports/pretrained/report.{py,md}`, `common/strokes/`, `seeds/paper.txt`. A command in
prose may wrap: `python -m scripts.complete --model=m --prefix=0.4
--wrapped=1` (`scripts.serve` alone is a name).

Written at /work/main/docs and in C:\\Users\\me, not in ../shared/data or /api/complete or 1/2.
This fixes issue 12 (see #37); sheep #0 is a drawing. A GPU was lent in session 5 and
reclaimed after one work period; the session fixture is fine. Before the fix it was in progress.
"""


def test_the_checks_report_planted_mistakes(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "architecture.md").write_text("map")
    page = tmp_path / "page.md"
    page.write_text(PLANTED)
    text = page.read_text()

    links = check_links(page, text)
    assert [p.split(": ", 1)[1] for p in links] == [
        "missing link target missing/page.md#part", "missing link target old.png",
        "no heading for #top", "no heading for docs/architecture.md#gone",
        "missing link target nowhere.svg"]

    absolute = check_absolute_paths(page, text)
    assert [p.split("absolute path ")[1] for p in absolute] == ["/work/main/docs", "C:\\U"]

    commands = [p.split(": ", 1)[1] for p in check_commands(page, text)]
    assert commands == [
        "scripts.sample has no flag --no_such_flag", "no module scripts.no_such_script",
        "benchmarks.train_sketch_rnn has no flag --nope",
        "scripts.train_sketch_rnn has no flag --noworkdir",
        "scripts.export_sketch_rnn has no flag --bogus", "scripts.complete has no flag --wrapped"]
    lines = [p.split(":")[1] for p in check_commands(page, text)]
    assert lines == ["9", "10", "11", "12", "15", "19"]  # Where each flag or module is.

    refs = [p.split(": ", 1)[1] for p in check_backtick_references(page, text)]
    assert refs == ["no such path common/nothing_here.py",
                    "no module or name sketch_rnn.client.NoSuchThing",
                    "no module or name common.stroke_data",
                    "no such path reports/pretrained/report.{py,md}",
                    "no such path seeds/paper.txt (../shared/seeds/paper.txt?)"]

    data = tmp_path / "data"
    (data / "sketches" / "sub").mkdir(parents=True)
    (data / "sketches" / "a.npz").write_text("")
    data_text = ("`$DATA/sketches/a.npz:test:3`, ../shared/data/sketches/sub/*.ndjson and\n"
                 "${DATA}/sketches/. Missing: $DATA/sketches/b.npz and ../shared/data/images/x/*")
    missing = [p.split("no shared data ")[1] for p in check_data_paths(page, data_text, data)]
    assert missing == ["$DATA/sketches/b.npz", "../shared/data/images/x/"]

    shell = ("```python\nload('$DATA/x.npz')\n```\n```bash\nDATA=$DATA; D=$DATA/s\nA=$B\n```\n"
             "DATA=$DATA in prose\n")
    assert [p.split(": ", 1)[1] for p in check_variables(page, shell)] == [
        "shell variable in Python code", "DATA defined from itself"]

    words = [p.split("wording ")[1] for p in check_wording(page, text)]
    assert words == ["'issue 12'", "'#37'", "'lent'", "'session'", "'reclaimed'", "'work period'",
                     "'Before the fix'", "'in progress'"]


def test_comments_and_docstrings_are_what_the_code_check_reads():
    code = ('"""Module: run it from /work/main."""\n'
            'X = "/tmp/data"  # a literal is code, this comment names /home/me\n'
            'def f():\n    """Writes to /var/out."""\n    return "/opt/x"\n')
    text = comments_and_docstrings(code)
    found = [p.split("absolute path ")[1] for p in check_absolute_paths(pathlib.Path("m.py"), text)]
    assert found == ["/work/main.", "/home/me", "/var/out."]


def test_dotted_names_resolve_without_importing():
    assert dotted_exists("sketch_rnn.train")
    assert dotted_exists("common.training.layout")
    assert dotted_exists("sketch_rnn.client.SketchModel.complete")
    assert dotted_exists("wae_style.configs")
    assert not dotted_exists("common.render")
    assert not dotted_exists("layers.recurrent_scan")
