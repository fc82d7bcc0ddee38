"""YAML loading that remembers the 1-based line of every mapping key and list item."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labtools.core.errors import ConfigError, Location, SchemaError, YamlSyntaxError
from labtools.core.messages import Msg, msg

try:  # the C loader is several times faster on big playbooks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

KeyPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


def key_path(path: Iterable[str | int]) -> str:
    """Format a key path like ``setup[2].retries``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> Msg | None:
    """A ``did you mean 'x'?`` hint for the closest choice, or None when nothing is close."""
    matches = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=cutoff)
    return msg("did you mean '{choice}'?", choice=matches[0]) if matches else None


@dataclass(frozen=True)
class YamlDoc:
    """Plain data from one YAML file plus the line of every key path in it."""

    file: str
    data: Any
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath = ()) -> int | None:
        """Line of ``path``, or of its nearest known ancestor."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def location(self, path: KeyPath = (), key: str | None = None) -> Location:
        """A ``Location`` for ``path`` (``key`` overrides the printed key path)."""
        return Location(
            self.file, self.line(path), key if key is not None else key_path(path) or None
        )


def load_yaml(path: str | Path) -> YamlDoc:
    """Read and parse one YAML file, keeping lines; errors name the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            msg("file not found: {path}", path=path), location=Location(str(path))
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            msg("cannot read {path}: {reason}", path=path, reason=exc), location=Location(str(path))
        ) from exc
    return parse_yaml(text, str(path))


def parse_yaml(text: str, filename: str) -> YamlDoc:
    """Parse YAML text (one document) into plain data plus a line for every key path."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, filename, text) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), location=Location(filename)) from exc
    if node is None:
        raise SchemaError(
            "the file is empty (no YAML document)",
            location=Location(filename, 1),
            hint="write a YAML mapping at the top level",
        )
    builder = _Builder(filename)
    try:
        data = builder.build(node, ())
    except RecursionError as exc:  # thousands of nested [ or {: Python's own stack gives up
        raise YamlSyntaxError(
            "YAML nested too deeply to read", location=Location(filename, 1)
        ) from exc
    return YamlDoc(filename, data, builder.lines)


def _syntax_error(exc: yaml.MarkedYAMLError, filename: str, text: str) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    if exc.context:
        problem = f"{exc.context}, {problem}"
    lines = text.splitlines()
    bad_line = lines[mark.line] if mark and mark.line < len(lines) else ""
    hint = None
    if "tab" in problem or "\t" in bad_line[: len(bad_line) - len(bad_line.lstrip())]:
        hint = "YAML indentation must use spaces, not tabs"
    where = f"column {column}: " if column else ""
    return YamlSyntaxError(
        f"YAML syntax error: {where}{problem}", location=Location(filename, line), hint=hint
    )


# PyYAML's constructors fail on their own on some tagged values: AttributeError on `!!timestamp`
# text that is not a date, IndexError on an empty `!!int`
_PYYAML_OWN = (AttributeError, LookupError)


class _Builder:
    """Turns composed nodes into plain data, recording lines and refusing duplicate keys."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[KeyPath, int] = {(): 1}
        self.scalars = yaml.constructor.SafeConstructor()
        self.open: set[int] = set()  # the collection nodes being built (an alias back: a cycle)

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node, path)
        if id(node) in self.open:
            raise SchemaError(
                "an alias refers to a collection that contains it (a cycle)",
                location=Location(self.filename, node.start_mark.line + 1, key_path(path) or None),
                hint="an alias (*name) may repeat an anchored value, not the value around it",
            )
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        """A scalar as safe YAML reads it; an unknown or wrong tag is a problem at its line."""
        try:
            return self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, *_PYYAML_OWN) as exc:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            problem = getattr(exc, "problem", None) or str(exc)
            if isinstance(exc, _PYYAML_OWN):  # PyYAML's own failure: its words mean nothing
                problem = f"it is not a valid {tag} value"
            raise SchemaError(
                f"cannot read the value {node.value!r} as {tag}: {problem}",
                location=Location(self.filename, node.start_mark.line + 1, key_path(path) or None),
                hint="remove the tag (`!name`/`!!type`) or quote the value to keep it as text",
            ) from exc

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                self._merge(result, value_node, path)
                continue
            key = self._key(key_node, path)
            if key in seen:
                raise SchemaError(
                    f"duplicate key '{key}' (first defined on line {seen[key]})",
                    location=Location(self.filename, line, key_path((*path, key))),
                    hint="a key may appear only once in a mapping; remove or rename one of them",
                )
            seen[key] = line
            self.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key))
        return result

    def _key(self, key_node: yaml.Node, path: KeyPath) -> Any:
        if not isinstance(key_node, yaml.ScalarNode):
            raise SchemaError(
                "mapping keys must be plain scalars",
                location=Location(self.filename, key_node.start_mark.line + 1, key_path(path)),
            )
        key = self._scalar(key_node, path)
        # YAML allows `1:` or `true:` as keys; labtools documents use names, so keep them as text
        return key if isinstance(key, str) else key_node.value

    def _merge(self, result: dict[Any, Any], value_node: yaml.Node, path: KeyPath) -> None:
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source, path)
            if not isinstance(merged, dict):
                raise SchemaError(
                    "'<<' merge needs a mapping or a list of mappings",
                    location=Location(self.filename, source.start_mark.line + 1, key_path(path)),
                )
            for key, value in merged.items():
                result.setdefault(key, value)
