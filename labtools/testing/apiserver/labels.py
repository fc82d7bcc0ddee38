"""Label selectors and label/annotation names as apimachinery v1.32 parses and validates them.

`pkg/labels/selector.go` (the lexer, the recursive-descent parser and its `found 'x', expected:
...` texts, `NewRequirement`'s checks) and `pkg/util/validation/validation.go`
(`IsQualifiedName`, `IsValidLabelValue`), `pkg/apis/meta/v1/validation` (`ValidateLabels`) and
`pkg/api/validation/objectmeta.go` (`ValidateAnnotations`).
"""

from __future__ import annotations

import re

Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, values)
Cause = tuple[str, str, str]

QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
SUBDOMAIN_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
ANNOTATIONS_LIMIT = 256 * 1024


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError (its double spaces included)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(SUBDOMAIN_FMT, value):
        errs.append(regex_error(SUBDOMAIN_MSG, SUBDOMAIN_FMT, "example.com"))
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName: `[prefix/]name`."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + regex_error(QNAME_MSG, QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in _subdomain_errors(prefix)]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not re.fullmatch(QNAME_FMT, name):
        errs.append(
            "name part " + regex_error(QNAME_MSG, QNAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(f"({QNAME_FMT})?", value):
        errs.append(regex_error(LABEL_VALUE_MSG, f"({QNAME_FMT})?", "MyValue", "my_value", "12345"))
    return errs


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _invalid(path: str, value: str, message: str) -> Cause:
    return (path, "FieldValueInvalid", f"Invalid value: {_q(value)}: {message}")


def metadata_causes(meta: dict[str, object], prefix: str = "metadata") -> list[Cause]:
    """ValidateLabels then ValidateAnnotations of one ObjectMeta (keys in sorted order)."""
    causes: list[Cause] = []
    labels = meta.get("labels") or {}
    path = f"{prefix}.labels"
    if isinstance(labels, dict):
        for key in sorted(labels):
            value = str(labels[key])
            causes += [
                (path, "FieldValueInvalid", f"Invalid value: {_q(key)}: {m}")
                for m in qualified_name_errors(key)
            ]
            causes += [
                (path, "FieldValueInvalid", f"Invalid value: {_q(value)}: {m}")
                for m in label_value_errors(value)
            ]
    annotations = meta.get("annotations") or {}
    path = f"{prefix}.annotations"
    if isinstance(annotations, dict):
        for key in sorted(annotations):
            causes += [_invalid(path, key, m) for m in qualified_name_errors(key.lower())]
        size = sum(len(k) + len(str(v)) for k, v in annotations.items())
        if size > ANNOTATIONS_LIMIT:
            causes.append(
                (
                    path,
                    "FieldValueTooLong",
                    f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
                )
            )
    return causes


# ---- the selector parser --------------------------------------------------------------------
ID, END, ERROR = "identifier", "end", "error"
OPERATORS = {
    "!": "!",
    "!=": "!=",
    "(": "(",
    ")": ")",
    ",": ",",
    "=": "=",
    "==": "==",
    ">": ">",
    "<": "<",
}
KEYWORDS = {"in": "in", "notin": "notin"}
SPECIAL = set("=!(),><")
WHITESPACE = set(" \t\r\n")


class SelectorError(ValueError):
    """A selector the API server rejects; the message is labels.Parse's."""


def _lex(text: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in WHITESPACE:
            pos += 1
        if pos >= len(text):
            items.append((END, ""))
            return items
        if text[pos] in SPECIAL:
            buffer, last = "", None
            while pos < len(text) and text[pos] in SPECIAL:
                buffer += text[pos]
                if buffer in OPERATORS:
                    last = buffer
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            if last is None:
                items.append((ERROR, f"error expected: keyword found '{buffer}'"))
            else:
                items.append((OPERATORS[last], last))
        else:
            start = pos
            while pos < len(text) and text[pos] not in SPECIAL and text[pos] not in WHITESPACE:
                pos += 1
            word = text[start:pos]
            items.append((KEYWORDS.get(word, ID), word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def look(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        return (ID, lit) if values and tok in ("in", "notin") else (tok, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.look(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.look()
            if tok in (ID, "!"):
                try:
                    reqs.append(self.requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.take()
                if tok == END:
                    return reqs
                if tok != ",":
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.look()
                if tok2 not in (ID, "!"):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == END:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        operator = ""
        tok, key = self.take()
        if tok == "!":
            operator = "!"
            tok, key = self.take()
        if tok != ID:
            raise SelectorError(f"found '{key}', expected: identifier")
        errs = qualified_name_errors(key)
        if errs:
            raise SelectorError(f"<nil>: Invalid value: {_q(key)}: {'; '.join(errs)}")
        if self.look()[0] in (END, ","):
            return (key, operator or "exists", ())
        if operator == "!":
            return (key, "!", ())
        tok, lit = self.take(values=False)
        if tok not in ("in", "notin", "=", "==", "!=", ">", "<"):
            raise SelectorError(f"found '{lit}', expected: '=', '!=', '==', 'in', notin'")
        values = self.values() if tok in ("in", "notin") else self.exact()
        return _requirement(key, tok, values)

    def values(self) -> list[str]:
        tok, lit = self.take()
        if tok != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.look()
        if tok == ")":
            self.take()
            return [""]
        if tok not in (ID, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        found: list[str] = []
        while True:
            tok, lit = self.take()
            if tok == ID:
                found.append(lit)
                tok2, lit2 = self.look()
                if tok2 == ",":
                    continue
                if tok2 == ")":
                    break
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == ",":
                if not found:
                    found.append("")
                tok2, _ = self.look()
                if tok2 == ")":
                    found.append("")
                    break
                if tok2 == ",":
                    self.take()
                    found.append("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")
        self.take()  # the ')'
        return sorted(set(found))

    def exact(self) -> list[str]:
        tok, lit = self.look()
        if tok in (END, ","):
            return [""]
        tok, lit = self.take()
        if tok == ID:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    """NewRequirement's checks of the values for the operator."""
    if op in ("in", "notin") and not values:
        raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
    if op in ("=", "==", "!=") and len(values) != 1:
        raise SelectorError("exact-match compatibility requires one single value")
    if op in (">", "<"):
        if len(values) != 1:
            raise SelectorError("for 'Gt', 'Lt' operators, exactly one value is required")
        if not re.fullmatch(r"[+-]?\d+", values[0]):
            raise SelectorError("for 'Gt', 'Lt' operators, the value must be an integer")
    for value in values:
        errs = label_value_errors(value)
        if errs:  # field.Invalid(path.Key(key), ...) on a nil path prints as `[key]`
            raise SelectorError(f"[{key}]: Invalid value: {_q(value)}: {'; '.join(errs)}")
    return (key, "=" if op == "==" else op, tuple(values))


def parse_selector(text: str) -> list[Requirement]:
    """labels.Parse: the requirements of a selector string, or SelectorError with its text."""
    return _Parser(text).parse()
