"""Jinja2 rendering: command templates to argv, text, values, expressions and manifests.

Command templates never go through a shell. Each ``{{ value }}`` is replaced by a marker while the
template renders, the literal text is split with POSIX word rules (shlex, no expansion), and the
values are put back into the words: a value is always exactly one argument, or part of one.
"""

from __future__ import annotations

import base64
import contextvars
import difflib
import functools
import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtools.core.errors import Location, TemplateError

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "SNIPPET",
    "Unresolved",
    "environment",
    "evaluate",
    "render_argv",
    "render_file",
    "render_manifest",
    "render_text",
    "render_value",
]

# Private-use code points: they cannot come from a value (values are put back after splitting)
# and practically never appear in literal template text (checked anyway).
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_JINJA_START = ("{{", "{%", "{#")
TEMPLATE_SUFFIX = ".j2"  # a file ending in .j2 is rendered by Jinja; any other file is used as is
SNIPPET = "snippet"  # {{ snippet('basics/pod-names.gotmpl') }}: a file of templates/, one value

_values: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "labtools_argv_values", default=None
)


class Unresolved:
    """Plan-mode stand-in for a value known only at run time (a registered result).

    Attribute access, item access, calls and comparisons give another ``Unresolved`` so templates
    render without raising; it renders as ``<pod_names.stdout>`` (or a given display text).
    """

    __slots__ = ("display", "name")

    def __init__(self, name: str, display: str | None = None) -> None:
        self.name = name
        self.display = display if display is not None else f"<{name}>"

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"Unresolved({self.name!r})"

    def __getattr__(self, attr: str) -> Unresolved:
        # dunder and jinja protocol lookups must fail normally, or Jinja treats us as special
        if attr.startswith("_") or attr.startswith("jinja_"):
            raise AttributeError(attr)
        return Unresolved(f"{self.name}.{attr}")

    def __getitem__(self, key: Any) -> Unresolved:
        return Unresolved(f"{self.name}[{key!r}]")

    def __call__(self, *args: Any, **kwargs: Any) -> Unresolved:
        return Unresolved(f"{self.name}()")

    def __iter__(self) -> Iterator[Unresolved]:
        yield Unresolved(f"{self.name}[0]")

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __hash__(self) -> int:
        return hash(("Unresolved", self.name))

    def __eq__(self, other: object) -> Any:
        return Unresolved(f"{self.name} == {other!r}")

    def __ne__(self, other: object) -> Any:
        return Unresolved(f"{self.name} != {other!r}")

    def __lt__(self, other: object) -> Unresolved:
        return Unresolved(f"{self.name} < {other!r}")

    def __le__(self, other: object) -> Unresolved:
        return Unresolved(f"{self.name} <= {other!r}")

    def __gt__(self, other: object) -> Unresolved:
        return Unresolved(f"{self.name} > {other!r}")

    def __ge__(self, other: object) -> Unresolved:
        return Unresolved(f"{self.name} >= {other!r}")

    def __contains__(self, item: object) -> bool:
        return True

    def __add__(self, other: object) -> Unresolved:
        return Unresolved(f"{self.name} + {other!r}")

    def __radd__(self, other: object) -> Unresolved:
        return Unresolved(f"{other!r} + {self.name}")


class _Words(tuple[str, ...]):
    """Several arguments from one ``{{ }}``: the result of the ``shell_words``/``args`` opt-outs."""

    __slots__ = ()


# ---------------------------------------------------------------------------- value to text


def _to_text(value: Any) -> str:
    """How a value looks inside a command or a file: YAML/JSON-friendly, not Python repr."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, _Words):
        return shlex.join(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


# ---------------------------------------------------------------------------- filters


def _shell_words(value: Any) -> _Words | Unresolved:
    """Split a string into several arguments (shlex rules): the visible opt-out."""
    if isinstance(value, Unresolved):
        return value
    if isinstance(value, list | tuple):
        return _Words(_to_text(item) for item in value)
    try:
        return _Words(shlex.split(_to_text(value)))
    except ValueError as exc:
        raise TemplateError(f"shell_words: cannot split {value!r}: {exc}") from exc


def _args(value: Any) -> _Words | Unresolved:
    """A list becomes one argument per item (a string stays one argument)."""
    if isinstance(value, Unresolved):
        return value
    if value is None:
        return _Words()
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return _Words((_to_text(value),))
    if isinstance(value, Mapping):
        raise TemplateError("args: expected a list, got a mapping")
    return _Words(_to_text(item) for item in value)


def _to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False, sort_keys=False)


def _from_json(value: Any) -> Any:
    if isinstance(value, Unresolved):
        return Unresolved(f"{value.name} | from_json")
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"from_json: not JSON: {exc}") from exc


def _to_yaml(value: Any, indent: int = 2) -> str:
    import yaml

    text: str = yaml.safe_dump(
        value, default_flow_style=False, sort_keys=False, indent=indent, allow_unicode=True
    )
    return text.removesuffix("\n...\n").rstrip("\n")


def _from_yaml(value: Any) -> Any:
    import yaml

    if isinstance(value, Unresolved):
        return Unresolved(f"{value.name} | from_yaml")
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise TemplateError(f"from_yaml: not YAML: {exc}") from exc


def _b64encode(value: Any) -> str:
    return base64.b64encode(_to_text(value).encode()).decode()


def _b64decode(value: Any) -> str:
    return base64.b64decode(_to_text(value)).decode()


def _hash(value: Any, algorithm: str = "sha1") -> str:
    """Ansible's ``hash``: the hex digest of the value's text (``config | hash('sha256')``)."""
    import hashlib

    if isinstance(value, Unresolved):
        return str(Unresolved(f"{value.name} | hash"))
    try:
        digest = hashlib.new(algorithm)
    except ValueError as exc:
        raise TemplateError(f"hash: unknown algorithm {algorithm!r}") from exc
    digest.update(_to_text(value).encode("utf-8"))
    return digest.hexdigest()


def _quote(value: Any) -> str:
    """shlex.quote for display; in a command it stays one argument (quotes included)."""
    return shlex.quote(_to_text(value))


def _regex(pattern: Any, name: str) -> re.Pattern[str]:
    """A filter's regular expression, compiled (a bad one is a TemplateError, not re.error)."""
    try:
        return re.compile(str(pattern), re.MULTILINE)
    except re.error as exc:
        raise TemplateError(f"{name}: bad regular expression {pattern!r}: {exc}") from exc


def _regex_search(value: Any, pattern: str, group: int | str = 0) -> Any:
    if isinstance(value, Unresolved):
        return Unresolved(f"{value.name} | regex_search")
    match = _regex(pattern, "regex_search").search(_to_text(value))
    return match.group(group) if match else None


def _regex_replace(value: Any, pattern: str, replacement: str = "") -> Any:
    if isinstance(value, Unresolved):
        return value
    try:
        return _regex(pattern, "regex_replace").sub(replacement, _to_text(value))
    except re.error as exc:  # a bad group reference in the replacement (\\9)
        raise TemplateError(f"regex_replace: bad replacement {replacement!r}: {exc}") from exc


FILTERS: dict[str, Any] = {
    "shell_words": _shell_words,
    "args": _args,
    "to_json": _to_json,
    "from_json": _from_json,
    "to_yaml": _to_yaml,
    "from_yaml": _from_yaml,
    "b64encode": _b64encode,
    "b64decode": _b64decode,
    "quote": _quote,
    "hash": _hash,
    "regex_search": _regex_search,
    "regex_replace": _regex_replace,
}


# ---------------------------------------------------------------------------- environments


def _text_finalize(value: Any) -> str:
    return _to_text(value)


def _argv_finalize_impl(context: Any, value: Any) -> str:
    if hasattr(value, "_undefined_name"):
        value = str(value)  # StrictUndefined raises here, inside the render, with its name
    values = _values.get()
    if values is None:  # an argv template rendered outside render_argv: behave like text
        return _to_text(value)
    values.append(value)
    return f"{_OPEN}{len(values) - 1}{_CLOSE}"


@functools.cache
def _argv_finalize() -> Any:
    import jinja2

    # pass_context keeps Jinja from folding constant output at compile time
    return jinja2.pass_context(_argv_finalize_impl)


def _snippet_impl(context: Any, name: Any) -> str:
    """``snippet('dir/file')``: a file of templates/ as ONE value (a .j2 file is rendered first)."""
    env = context.environment
    if env.loader is None:
        raise TemplateError(f"{SNIPPET}({name!r}): no templates/ folder to read it from")
    name = str(name)
    if not name.endswith(TEMPLATE_SUFFIX):
        source, _filename, _uptodate = _find_template(env, name, SNIPPET)
        # a trailing newline ends the file, not the argument
        return str(source).removesuffix("\n")
    template = _find_template_object(_environment(_loader_dir(env)), name, SNIPPET)
    text = template.render(context.get_all())
    return str(text).removesuffix("\n")


def _loader_dir(env: jinja2.Environment) -> Path:
    return Path(env.loader.searchpath[0])  # type: ignore[union-attr]


@functools.cache
def _snippet() -> Any:
    import jinja2

    return jinja2.pass_context(_snippet_impl)


@functools.cache
def _environment(templates_dir: Path | None) -> jinja2.Environment:
    import jinja2

    loader = jinja2.FileSystemLoader(str(templates_dir)) if templates_dir else None
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        finalize=_text_finalize,
        keep_trailing_newline=True,
        autoescape=False,
        cache_size=2000,
    )
    env.filters.update(FILTERS)
    env.globals[SNIPPET] = _snippet()
    return env


@functools.cache
def _argv_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    base = _environment(templates_dir)
    return base.overlay(finalize=_argv_finalize())


@functools.lru_cache(maxsize=64)
def _resolved(templates_dir: Path | None) -> Path | None:
    # cached: resolving costs an lstat per path component, and every rendered manifest asks
    return Path(templates_dir).resolve() if templates_dir else None


def environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment (StrictUndefined, labtools filters), cached per templates dir."""
    return _environment(_resolved(templates_dir))


@functools.lru_cache(maxsize=8192)
def _compile(env: jinja2.Environment, text: str) -> jinja2.Template:
    return env.from_string(text)


@functools.lru_cache(maxsize=4096)
def _compile_expression(text: str) -> Any:
    return _environment(None).compile_expression(text, undefined_to_none=False)


# ---------------------------------------------------------------------------- errors


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The template line where a render error happened (Jinja rewrites tracebacks to it)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == (filename or "<template>"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _undefined_name(message: str) -> str | None:
    match = re.search(r"'([^']+)' is undefined", message)
    if match:
        return match.group(1)
    match = re.search(r"has no attribute '([^']+)'", message)
    return match.group(1) if match else None


def _where(source: Location | None, line: int | None) -> Location | None:
    if source is None:
        return None
    if line and source.line:
        return Location(source.file, source.line + line - 1, source.key)
    return source


def _wrap(
    exc: Exception,
    variables: Mapping[str, Any],
    source: Location | None,
    *,
    filename: str | None = None,
) -> TemplateError:
    """Turn any Jinja/render error into a TemplateError with location and did-you-mean."""
    import jinja2

    if isinstance(exc, TemplateError):
        if exc.location is None and source is not None:
            return TemplateError(exc.message, location=source, hint=exc.hint)
        return exc
    line = _template_line(exc, filename)
    location = (
        Location(filename, line, source.key if source else None)
        if filename
        else _where(source, line)
    )
    message = str(getattr(exc, "message", None) or exc)
    hint = None
    if isinstance(exc, jinja2.UndefinedError):
        name = _undefined_name(message)
        message = f"undefined variable: {message}"
        if name:
            close = difflib.get_close_matches(name, sorted(map(str, variables)), n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
            if hint is None and "has no attribute" not in message:
                hint = "define it in the playbook's vars:, the inventory, or with --set"
    elif isinstance(exc, jinja2.TemplateSyntaxError):
        message = f"template syntax error: {message}"
    else:
        message = f"template error: {type(exc).__name__}: {message}"
    return TemplateError(message, location=location, hint=hint)


def _render_errors() -> tuple[type[Exception], ...]:
    import jinja2

    return (
        jinja2.TemplateError,
        TemplateError,
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
        ZeroDivisionError,
        OverflowError,
    )


# ---------------------------------------------------------------------------- public API


def _is_template(text: str) -> bool:
    return any(start in text for start in _JINJA_START)


def render_text(
    template: str,
    variables: Mapping[str, Any],
    *,
    source: Location | None = None,
    templates_dir: Path | None = None,
) -> str:
    """Render a template string to text (values formatted with labtools' rules)."""
    if not _is_template(template):
        return template
    try:
        return _compile(_environment(_resolved(templates_dir)), template).render(variables)
    except _render_errors() as exc:
        raise _wrap(exc, variables, source) from exc


def _split(text: str, template: str, source: Location | None) -> list[str]:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # '#' is literal in arguments (URLs, jsonpath)
    try:
        return list(lexer)
    except ValueError as exc:
        raise TemplateError(
            f"cannot split command into words: {exc}: {template!r}",
            location=source,
            hint="balance the quotes in the template text",
        ) from exc


def _put_back(words: list[str], values: list[Any], source: Location | None) -> list[str]:
    argv: list[str] = []
    for word in words:
        whole = _MARKER.fullmatch(word)
        if whole:
            value = values[int(whole.group(1))]
            if isinstance(value, _Words):
                argv.extend(value)
            else:
                argv.append(_to_text(value))
            continue

        def value_text(match: re.Match[str]) -> str:
            value = values[int(match.group(1))]
            if isinstance(value, _Words):
                raise TemplateError(
                    "'shell_words'/'args' must stand alone as a word, not glued to text",
                    location=source,
                    hint="put spaces around {{ ... | shell_words }}",
                )
            return _to_text(value)

        argv.append(_MARKER.sub(value_text, word))
    return argv


def render_argv(
    template: str | Sequence[str],
    variables: Mapping[str, Any],
    *,
    source: Location | None = None,
    templates_dir: Path | None = None,
) -> tuple[str, ...]:
    """Render a command template to argv; every ``{{ value }}`` is one argument or part of one.

    ``{{ snippet('lab/file') }}`` puts a file of ``templates_dir`` in as one argument.
    """
    if not isinstance(template, str):
        return tuple(
            render_text(item, variables, source=source, templates_dir=templates_dir)
            if isinstance(item, str)
            else _to_text(item)
            for item in template
        )
    if not _is_template(template):
        return tuple(_split(template, template, source))
    if _OPEN in template or _CLOSE in template:
        raise TemplateError("command template contains reserved characters", location=source)
    values: list[Any] = []
    token = _values.set(values)
    try:
        text = _compile(_argv_environment(_resolved(templates_dir)), template).render(variables)
    except _render_errors() as exc:
        raise _wrap(exc, variables, source) from exc
    finally:
        _values.reset(token)
    return tuple(_put_back(_split(text, template, source), values, source))


def render_value(
    value: Any,
    variables: Mapping[str, Any],
    *,
    source: Location | None = None,
    templates_dir: Path | None = None,
) -> Any:
    """Render every string inside nested dicts/lists; other values are returned as they are."""
    if isinstance(value, str):
        return render_text(value, variables, source=source, templates_dir=templates_dir)
    if isinstance(value, Mapping):
        return {
            key: render_value(item, variables, source=source, templates_dir=templates_dir)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            render_value(item, variables, source=source, templates_dir=templates_dir)
            for item in value
        ]
    return value


def _expression_text(expression: str) -> str:
    text = str(expression).strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2]  # tolerate the Ansible habit of bracing conditions
    return text


def evaluate(
    expression: str | bool, variables: Mapping[str, Any], *, source: Location | None = None
) -> Any:
    """Evaluate a Jinja expression without braces (``result.rc == 0``) to a Python value."""
    if isinstance(expression, bool):
        return expression
    text = _expression_text(expression)
    try:
        return _compile_expression(text)(**variables)
    except _render_errors() as exc:
        raise _wrap(exc, variables, source) from exc


def check_template(text: str, *, source: Location | None = None, expression: bool = False) -> None:
    """Parse a template (or compile an expression) now, so syntax errors surface at load time.

    Templates are only parsed here (a fraction of a full compile); the ones a run renders are
    compiled then, once (``_compile`` is cached).
    """
    import jinja2

    if not expression and not _is_template(text):
        return
    try:
        if expression:
            _compile_expression(_expression_text(text))
        else:
            _environment(None).parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise _wrap(exc, {}, source) from exc


def template_files(templates_dir: Path) -> list[str]:
    """Every file under ``templates_dir``, as the path a step names it by (``basics/x.yaml.j2``)."""
    root = Path(templates_dir)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def missing_template(
    name: str, templates_dir: Path | None, what: str = "template"
) -> TemplateError:
    """The error for a file a step names that is not under templates/ (with a did-you-mean)."""
    if templates_dir is None:
        return TemplateError(f"{what} '{name}': no templates/ folder to find it in")
    available = template_files(templates_dir)
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    if close:
        hint = f"did you mean '{close[0]}'?"
    else:
        hint = f"files in {templates_dir}: {', '.join(available) or 'none'}"
    return TemplateError(
        f"{what} '{name}' not found in {Path(templates_dir).name}/",
        location=Location(str(Path(templates_dir) / name)),
        hint=hint,
    )


def _find_template(
    env: jinja2.Environment, name: str, what: str = "template"
) -> tuple[str, str | None, Any]:
    """The raw text of a file under the loader's folder (never rendered)."""
    import jinja2

    try:
        return env.loader.get_source(env, name)  # type: ignore[union-attr]
    except jinja2.TemplateNotFound as exc:
        raise missing_template(name, _loader_dir(env), what) from exc


def _find_template_object(
    env: jinja2.Environment, name: str, what: str = "template"
) -> jinja2.Template:
    """A compiled template file of the loader's folder."""
    import jinja2

    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise missing_template(name, _loader_dir(env), what) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise _wrap(exc, {}, None, filename=exc.filename or name) from exc


def _load_template(name: str, templates_dir: Path) -> jinja2.Template:
    return _find_template_object(environment(templates_dir), name)


def render_file(name: str, variables: Mapping[str, Any], *, templates_dir: Path) -> str:
    """The file ``templates_dir/name`` as text: rendered when it ends in ``.j2``, else as it is."""
    if not name.endswith(TEMPLATE_SUFFIX):
        source, _filename, _uptodate = _find_template(environment(templates_dir), name)
        return str(source)
    template = _load_template(name, templates_dir)
    try:
        return template.render(variables)
    except _render_errors() as exc:
        raise _wrap(exc, variables, None, filename=template.filename) from exc


def snippet_names(text: str) -> list[str]:
    """The files a template names with ``snippet('...')`` (constant names only)."""
    import jinja2
    from jinja2 import nodes

    if SNIPPET not in text or not _is_template(text):
        return []
    try:
        tree = _environment(None).parse(text)
    except jinja2.TemplateSyntaxError:
        return []
    return [
        str(call.args[0].value)
        for call in tree.find_all(nodes.Call)
        if isinstance(call.node, nodes.Name)
        and call.node.name == SNIPPET
        and call.args
        and isinstance(call.args[0], nodes.Const)
    ]


def _safe_loader() -> Any:
    """PyYAML's safe loader, libyaml's (C) when PyYAML was built with it: 5-10x faster on the
    manifests every host renders (a workshop's 30 participants render 8 each)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render_manifest(
    name: str, variables: Mapping[str, Any], *, templates_dir: Path
) -> tuple[str, list[dict[str, Any]]]:
    """Render a manifest template and parse it: (YAML text, non-empty documents)."""
    import yaml

    text = render_file(name, variables, templates_dir=templates_dir)
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=_safe_loader()) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise TemplateError(
            f"manifest {name} is not valid YAML after rendering: line {line} of the rendered "
            f"text: {exc.problem or exc}",
            location=Location(str(Path(templates_dir) / name), line),
            hint="check indentation around interpolated values; `| to_yaml` or `| to_json` help",
        ) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(
            f"manifest {name} is not valid YAML after rendering: {exc}",
            location=Location(str(Path(templates_dir) / name)),
        ) from exc
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise TemplateError(
                f"manifest {name}: document {index + 1} is a {type(doc).__name__}, not a mapping",
                location=Location(str(Path(templates_dir) / name)),
            )
    return text, docs
