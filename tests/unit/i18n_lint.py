"""A lint: user-facing text goes through the catalogue (labtools.core.i18n), not around it.

Two rules, checked on the source (AST) by ``tests/unit/test_catalogue.py``:

1. **Errors and preflight problems a student can cause** (every ``LabError`` class but the lab
   author's ``SchemaError``/``YamlSyntaxError``/``TemplateError``, and ``PreflightProblem``): their
   message and hint are catalogue messages (``msg``/``msgn``/``msgp``/``joined`` or a function
   annotated to return ``Msg``/``Text``), never a literal, an f-string or an English ``.message``.
2. **Reporters** (``labtools/report/``, but the machine formats ``journal.py`` and ``junit.py``)
   **and the tutor's screens** (``labtools/tutor/view.py``, ``stepping.py``: ``--step``):
   no string literal with words in it outside a catalogue call, except where a literal is not
   text for people: keyword arguments (``style="bold"``), comparisons, dict keys, subscripts,
   ``case`` patterns, or a line marked ``# i18n: not text`` with the reason.

Plus the templates under ``templates/``: text outside ``{{ ... }}``/``{% ... %}`` has no words,
and no catalogue call sits inside an f-string (Babel's extraction does not see into one, so the
message would silently never be translated).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORD = re.compile(r"[A-Za-z]{2,}")
STUDENT_ERRORS = frozenset(
    {
        "LabError",
        "ConfigError",
        "InventoryError",
        "OptionError",
        "ProviderError",
        "MissingBinaryError",
        "PreflightError",
        "ClusterUnreachableError",
        "ServiceError",
        "RunDirError",
        "TargetBusyError",
        "CommandTooLongError",
        "RunFailed",
        "Interrupted",
    }
)
CATALOGUE_CALLS = frozenset(
    {"msg", "msgn", "msgp", "joined", "gettext", "ngettext", "pgettext", "render", "_"}
)
ENGLISH_ATTRIBUTES = frozenset({"message", "hint"})  # LabError's English renderings
NOT_TEXT_CALLS = frozenset({"getattr", "hasattr", "isinstance", "import_module", "getenv"})
PRAGMA = "# i18n: not text"
PATH_LIKE = re.compile(r"^[\w*{}-]*([./][\w*{}-]*)+$")  # file names and paths: not prose
# where messages are built for students: not the fake cluster, not pytest's checks
ERROR_SOURCES = ("labtools/**/*.py", "tasks.py")
ERROR_SKIPPED = ("labtools/testing/", "labtools/verify/")
REPORT_SKIPPED = ("journal.py", "junit.py")  # machine formats: JSON lines and JUnit XML
# what a student reads: the reporters, the tutor's screens and the --step prompt
TEXT_SOURCES = ("labtools/report/*.py", "labtools/tutor/view.py", "labtools/tutor/stepping.py")


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def text_functions(root: Path = ROOT) -> frozenset[str]:
    """Functions whose return annotation says they give catalogue text (Msg or Text)."""
    names = set()
    for pattern in ERROR_SOURCES:
        for path in root.glob(pattern):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
                    annotation = ast.unparse(node.returns)
                    if re.search(r"\b(Msg|Text)\b", annotation) and "str" not in annotation:
                        names.add(node.name)
    return frozenset(names)


class _Scope:
    """Resolves a name to what was assigned to it (in a function, else in the module)."""

    def __init__(self, module: ast.Module, root: Path = ROOT) -> None:
        self.module = module
        self.root = root
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(module):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None

    def assignments(self, name: str, at: ast.AST) -> tuple[list[ast.expr], ast.arg | None]:
        """Values assigned to ``name`` where ``at`` is, and the parameter of that name."""
        scope: ast.AST = self.function_of(at) or self.module
        values: list[ast.expr] = []
        param = None
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = scope.args
            for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                if arg.arg == name:
                    param = arg
        for node in ast.walk(scope):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            ) or (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == name
                and node.value is not None
            ):
                values.append(node.value)
        if not values and param is None:
            values = self.imported(name, scope)
        if not values and param is None and scope is not self.module:
            return self.assignments_in_module(name), None
        return values, param

    def imported(self, name: str, scope: ast.AST) -> list[ast.expr]:
        """What ``from labtools.x import name`` binds, read from that module."""
        for node in ast.walk(scope):
            if (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("labtools")
                and any((alias.asname or alias.name) == name for alias in node.names)
            ):
                path = self.root / (str(node.module).replace(".", "/") + ".py")
                if path.is_file():
                    other = _Scope(ast.parse(path.read_text(encoding="utf-8")), self.root)
                    return other.assignments_in_module(name)
        return []

    def assignments_in_module(self, name: str) -> list[ast.expr]:
        """Module-level assignments to ``name``."""
        found = []
        for node in self.module.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == name for target in node.targets
            ):
                found.append(node.value)
        return found


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _catalogued(node: ast.expr, scope: _Scope, texts: frozenset[str], depth: int = 0) -> bool:
    """Is this expression a catalogue message (or nothing)?"""
    if depth > 8:
        return False
    if isinstance(node, ast.Constant):
        return node.value is None or (isinstance(node.value, str) and not WORD.search(node.value))
    if isinstance(node, ast.Call):
        return _call_name(node) in CATALOGUE_CALLS | texts
    if isinstance(node, ast.Attribute):
        return node.attr not in ENGLISH_ATTRIBUTES
    if isinstance(node, ast.IfExp):
        return all(_catalogued(n, scope, texts, depth + 1) for n in (node.body, node.orelse))
    if isinstance(node, ast.BoolOp):
        return all(_catalogued(n, scope, texts, depth + 1) for n in node.values)
    if isinstance(node, ast.Name):
        values, param = scope.assignments(node.id, node)
        if param is not None:
            annotation = ast.unparse(param.annotation) if param.annotation else ""
            return bool(re.search(r"\b(Msg|Text)\b", annotation))
        return bool(values) and all(_catalogued(v, scope, texts, depth + 1) for v in values)
    return False  # f-strings, concatenations, str.format, %: text built around the catalogue


def _error_arguments(node: ast.Call) -> Iterator[ast.expr]:
    """The message and hint arguments of an error or a PreflightProblem."""
    name = _call_name(node)
    if name == "PreflightProblem":
        yield from node.args[2:4]
        yield from (kw.value for kw in node.keywords if kw.arg in ("message", "hint"))
    elif name in STUDENT_ERRORS:
        yield from node.args[:1]
        yield from (kw.value for kw in node.keywords if kw.arg in ("message", "hint"))


def error_violations(root: Path = ROOT) -> list[str]:
    """Errors and problems whose text does not come from the catalogue."""
    texts = text_functions(root)
    found = []
    for pattern in ERROR_SOURCES:
        for path in sorted(root.glob(pattern)):
            if _relative(path, root).startswith(ERROR_SKIPPED):
                continue
            module = ast.parse(path.read_text(encoding="utf-8"))
            scope = _Scope(module, root)
            for node in ast.walk(module):
                if not isinstance(node, ast.Call):
                    continue
                for argument in _error_arguments(node):
                    if not _catalogued(argument, scope, texts):
                        where = f"{_relative(path, root)}:{argument.lineno}"
                        found.append(f"{where}: {_call_name(node)}({ast.unparse(argument)})")
    return found


def _docstrings(module: ast.Module) -> set[ast.AST]:
    found: set[ast.AST] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(body[0].value)
    return found


def _allowed_place(node: ast.AST, scope: _Scope) -> bool:
    """Is a literal at ``node`` something other than text for people?"""
    child = node
    parent = scope.parents.get(child)
    while parent is not None:
        if isinstance(parent, ast.Call) and _call_name(parent) in CATALOGUE_CALLS | NOT_TEXT_CALLS:
            return child is not parent.func
        if isinstance(parent, ast.keyword | ast.Compare | ast.MatchValue | ast.FormattedValue):
            return True
        if isinstance(parent, ast.Subscript) and child is parent.slice:
            return True
        if isinstance(parent, ast.Dict) and child in parent.keys:
            return True
        if isinstance(parent, ast.stmt):
            return False
        child, parent = parent, scope.parents.get(parent)
    return False


def report_violations(root: Path = ROOT) -> list[str]:
    """Literals with words in the reporters (and the tutor's screens) that bypass the catalogue."""
    found = []
    paths = [path for pattern in TEXT_SOURCES for path in sorted(root.glob(pattern))]
    for path in paths:
        if path.name in REPORT_SKIPPED:
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        module = ast.parse(source)
        scope = _Scope(module)
        docstrings = _docstrings(module)
        for node in ast.walk(module):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if node in docstrings or not WORD.search(node.value) or PATH_LIKE.match(node.value):
                continue
            if PRAGMA in lines[node.lineno - 1] or _allowed_place(node, scope):
                continue
            found.append(f"{_relative(path, root)}:{node.lineno}: {node.value!r}")
    return found


def fstring_violations(root: Path = ROOT) -> list[str]:
    """Catalogue calls inside f-strings: extraction cannot see them, so they stay English."""
    found = []
    for pattern in ERROR_SOURCES:
        for path in sorted(root.glob(pattern)):
            if _relative(path, root).startswith(ERROR_SKIPPED):
                continue
            module = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(module):
                if not isinstance(node, ast.JoinedStr):
                    continue
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, ast.Call)
                        and _call_name(inner) in CATALOGUE_CALLS
                        and inner.args
                        and isinstance(inner.args[0], ast.Constant)
                    ):
                        text = inner.args[0].value
                        found.append(f"{_relative(path, root)}:{inner.lineno}: {text!r}")
    return found


class _TextOfHtml(HTMLParser):
    """Collects the text an HTML page shows (not style or script, not attribute values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self.skip += 1
        for name, value in attrs:
            if name in ("title", "alt", "aria-label") and value and WORD.search(value):
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and WORD.search(data):
            self.texts.append(data.strip())


JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def template_violations(root: Path = ROOT) -> list[str]:
    """Words in templates outside Jinja expressions (``{{ _("...") }}`` is the way)."""
    found = []
    for path in sorted((root / "templates").glob("**/*.j2")):
        if path.parent.name not in ("report", "handout", "cards"):
            continue
        bare = JINJA.sub(" ", path.read_text(encoding="utf-8"))
        if path.name.endswith(".html.j2"):
            parser = _TextOfHtml()
            parser.feed(bare)
            texts = parser.texts
        else:
            # a code fence's info string (```console) names a language, it is not prose
            texts = [
                line
                for line in bare.splitlines()
                if WORD.search(line) and not re.fullmatch(r"\s*```\w*\s*", line)
            ]
        found += [f"{_relative(path, root)}: {text!r}" for text in texts]
    return found
