"""Ansible-style YAML inventory: host ranges, nested groups, variable merging, --limit patterns."""

from __future__ import annotations

import fnmatch
import itertools
import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools.core.errors import InventoryError, Location, SchemaError
from labtools.core.messages import Msg, Text, msg
from labtools.core.model import Host, Inventory
from labtools.core.yamlfile import KeyPath, YamlDoc, did_you_mean, load_yaml

GROUP_KEYS: tuple[str, ...] = ("hosts", "vars", "children")
DEFAULT_PROVIDER = "auto"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# minikube's ProfileNameValid (pkg/minikube/config/profile.go): dot-separated labels of letters,
# digits and '-'; in lowercase here, as the profile names the node. (minikube also wants more
# than one character, for docker volume names; its own message says so.)
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_PROFILE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
HOST_NAME_RULE = (
    "lowercase letters a-z, digits 0-9 and '-', starting and ending with a letter or digit, "
    "at most 63 characters (a DNS-1123 label)"
)
"""The one rule for host names: a host name becomes a minikube profile, a kubectl context, the
node's name and part of the lab's namespace, and a DNS-1123 label suits all of them."""
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*([kmgt]i?b?|b)?$", re.IGNORECASE)
_DISK = _MEMORY
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


# ---------------------------------------------------------------------------- setting validators


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_provider(value: Any) -> str | None:
    # which names exist is the provider registry's business (checked when the plan is built)
    if isinstance(value, str) and _DNS_LABEL.match(value):
        return None
    return f"expected a provider name (minikube, context, fake, auto), got {value!r}"


def _check_positive_int(value: Any) -> str | None:
    return None if _is_int(value) and value >= 1 else f"expected an integer >= 1, got {value!r}"


def _check_size(value: Any) -> str | None:
    if _is_int(value) and value >= 1:
        return None
    if isinstance(value, str) and _MEMORY.match(value.strip()):
        return None
    return f"expected megabytes (2200) or a size like '4g' or '2200mb', got {value!r}"


def _check_str(value: Any) -> str | None:
    return None if isinstance(value, str) and value else f"expected a string, got {value!r}"


def _check_version(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return None
    return f"expected a version string like 'v1.32.0' (quote it), got {value!r}"


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {value!r}"


def _check_str_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return None
    return f"expected a list of strings, got {value!r}"


def _check_label(value: Any) -> str | None:
    if isinstance(value, str) and _DNS_LABEL.match(value):
        return None
    return f"expected a DNS-1123 label (lowercase letters, digits, '-'), got {value!r}"


def _check_profile(value: Any) -> str | None:
    if isinstance(value, str) and _PROFILE.match(value):
        return None
    return (
        "expected a minikube profile name: lowercase letters, digits, '-' and '.', starting and "
        f"ending with a letter or digit; got {value!r}"
    )


def host_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a host name (None when it can): see ``HOST_NAME_RULE``."""
    if _DNS_LABEL.match(name):
        return None
    return f"bad host name '{name}': a host name has {HOST_NAME_RULE}"


SETTINGS: dict[str, Callable[[Any], str | None]] = {
    "provider": _check_provider,
    "profile": _check_profile,
    "driver": _check_str,
    "cpus": _check_positive_int,
    "memory": _check_size,
    "disk_size": _check_size,
    "kubernetes_version": _check_version,
    "container_runtime": _check_str,
    "addons": _check_str_list,
    "keep": _check_bool,
    "kube_context": _check_str,
    "kubeconfig": _check_str,
    "namespace": _check_label,
    "minikube_bin": _check_str,
    "kubectl_bin": _check_str,
    # workshops (docs/workshops.md)
    "participant": _check_str,
    "participants_file": _check_str,
    "isolation": _check_bool,
    "participant_account": _check_label,
    "token_duration": _check_str,
    "participants_dir": _check_str,
}
"""Provider settings (host or group vars) and how each is checked; other keys are user vars."""

CLUSTER_SETTINGS: tuple[str, ...] = (
    "provider",
    "profile",
    "kube_context",
    "kubeconfig",
    "namespace",
)
"""The settings that choose a host's cluster: two unrelated groups must not disagree on them."""

SETTING_TYPES: dict[str, type] = {"cpus": int, "keep": bool, "addons": list}
"""The settings whose ``--set`` text becomes another type (every other setting is text)."""


def _distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (``proivder`` is 1 away from ``provider``)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def misspelt_setting(key: str) -> str | None:
    """The provider setting ``key`` is a likely misspelling of, if any."""
    if key in SETTINGS:
        return None
    for setting in SETTINGS:
        # short names get less slack, or ordinary user vars (`keys`, `deep`) would be flagged
        allowed = 1 if len(setting) <= 5 else 2
        if _distance(key.lower(), setting) <= allowed:
            return setting
    return None


def check_vars(doc: YamlDoc, path: KeyPath, variables: Any) -> dict[str, Any]:
    """Validate a vars mapping: known settings by type, misspelt settings are errors."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise SchemaError(
            f"expected a mapping of variables, got {type(variables).__name__}",
            location=doc.location(path),
        )
    for key, value in variables.items():
        where = doc.location((*path, key))
        if key in SETTINGS:
            problem = SETTINGS[key](value)
            if problem:
                raise SchemaError(f"bad value for '{key}': {problem}", location=where)
            continue
        close = misspelt_setting(str(key))
        if close:
            raise SchemaError(
                f"unknown provider setting '{key}'",
                location=where,
                hint=f"did you mean '{close}'? (other keys are user variables)",
            )
    return dict(variables)


# ---------------------------------------------------------------------------- host ranges


def _range_items(spec: str, name: str) -> list[str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(part.strip() for part in parts[:2]):
        raise ValueError(
            msg(
                "empty or malformed range [{spec}] in '{name}' (write [01:20] or [a:f])",
                spec=spec,
                name=name,
            )
        )
    start, end = parts[0].strip(), parts[1].strip()
    step_text = parts[2].strip() if len(parts) == 3 else "1"
    if not step_text.isdigit() or int(step_text) < 1:
        raise ValueError(
            msg(
                "bad step '{step}' in range [{spec}] of '{name}' (an integer >= 1)",
                step=step_text,
                spec=spec,
                name=name,
            )
        )
    step = int(step_text)
    if start.isdigit() and end.isdigit():
        if int(start) > int(end):
            raise ValueError(_reversed(spec, name, start, end))
        _check_count(len(range(int(start), int(end) + 1, step)), name)
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        return [str(n).zfill(width) for n in range(int(start), int(end) + 1, step)]
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        if start > end:
            raise ValueError(_reversed(spec, name, start, end))
        return [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    raise ValueError(
        msg(
            "bad range [{spec}] in '{name}': use numbers ([01:20]) or letters ([a:f])",
            spec=spec,
            name=name,
        )
    )


MAX_HOSTS = 10_000
"""At most this many hosts from one pattern: each is a cluster or a namespace, and a range with
a typo in it (``lab-[01:1000000]``) would otherwise build millions of them before any check."""


def _check_count(count: int, name: str) -> None:
    if count > MAX_HOSTS:
        raise ValueError(
            msg(
                "'{name}' makes {count} hosts; one pattern makes at most {limit}",
                name=name,
                count=f"{count:,}",
                limit=f"{MAX_HOSTS:,}",
            )
        )


def _reversed(spec: str, name: str, start: str, end: str) -> Msg:
    return msg(
        "reversed range [{spec}] in '{name}': {start} > {end}",
        spec=spec,
        name=name,
        start=start,
        end=end,
    )


def range_problem(exc: ValueError) -> Text:
    """The message of a host-range ValueError (``expand_hosts``)."""
    text = exc.args[0] if exc.args else ""
    return text if isinstance(text, Msg) else str(text)


def expand_hosts(pattern: str) -> list[str]:
    """Expand ``lab-[01:20]``, ``node-[a:c]``, ``x[0:20:5]`` (several ranges allowed)."""
    pieces = _RANGE.split(pattern)
    literals, ranges = pieces[0::2], pieces[1::2]
    if any("[" in text or "]" in text for text in literals):
        raise ValueError(msg("unbalanced '[' or ']' in host name '{pattern}'", pattern=pattern))
    choices = [_range_items(spec, pattern) for spec in ranges]
    _check_count(math.prod(len(items) for items in choices), pattern)
    names = []
    for combo in itertools.product(*choices):
        name = literals[0] + "".join(item + literals[i + 1] for i, item in enumerate(combo))
        names.append(name)
    return names


# ---------------------------------------------------------------------------- parsing


@dataclass
class _Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    var_sources: dict[str, Location] = field(default_factory=dict)
    hosts: dict[str, int] = field(default_factory=dict)  # host -> line of its definition
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


@dataclass
class _HostDef:
    name: str
    vars: dict[str, Any]
    source: Location
    var_sources: dict[str, Location]


class _Parser:
    def __init__(self, doc: YamlDoc) -> None:
        self.doc = doc
        self.groups: dict[str, _Group] = {"all": _Group("all")}
        self.hosts: dict[str, list[_HostDef]] = {}

    def parse(self) -> Inventory:
        data = self.doc.data
        if not isinstance(data, dict):
            raise SchemaError(
                f"the inventory must be a mapping with an 'all:' group, got {type(data).__name__}",
                location=self.doc.location(()),
                hint="start the file with `all:` and put hosts/vars/children under it",
            )
        for name, body in data.items():
            if name != "all":  # Ansible: other top-level groups are children of `all`
                self._link("all", str(name), ())
            self._group(str(name), body, (name,))
        self._check_cycles()
        return self._build()

    def _group(self, name: str, body: Any, path: KeyPath) -> None:
        if not _NAME.match(name):
            raise SchemaError(f"bad group name '{name}'", location=self.doc.location(path))
        group = self.groups.setdefault(name, _Group(name))
        if body is None:
            return
        if not isinstance(body, dict):
            raise SchemaError(
                f"group '{name}' must be a mapping with hosts/vars/children, "
                f"got {type(body).__name__}",
                location=self.doc.location(path),
            )
        for key in body:
            if key not in GROUP_KEYS:
                raise SchemaError(
                    f"unknown key '{key}' in group '{name}'",
                    location=self.doc.location((*path, key)),
                    hint=did_you_mean(str(key), GROUP_KEYS) or "a group has hosts, vars, children",
                )
        group_vars = check_vars(self.doc, (*path, "vars"), body.get("vars"))
        group.vars.update(group_vars)
        group.var_sources.update({k: self.doc.location((*path, "vars", k)) for k in group_vars})
        self._hosts(group, body.get("hosts"), (*path, "hosts"))
        self._children(name, body.get("children"), (*path, "children"))

    def _hosts(self, group: _Group, hosts: Any, path: KeyPath) -> None:
        if hosts is None:
            return
        if not isinstance(hosts, dict):
            raise SchemaError(
                f"'hosts' of group '{group.name}' must be a mapping of host names, "
                f"got {type(hosts).__name__}",
                location=self.doc.location(path),
                hint="write `hosts:` then one `name:` per line (a list is not accepted)",
            )
        for pattern, host_vars in hosts.items():
            where = (*path, pattern)
            line = self.doc.line(where)
            try:
                names = expand_hosts(str(pattern))
            except ValueError as exc:
                raise InventoryError(range_problem(exc), location=self.doc.location(where)) from exc
            variables = check_vars(self.doc, where, host_vars)
            for name in names:
                self._add_host(group, name, variables, where, line)

    def _add_host(
        self, group: _Group, name: str, variables: dict[str, Any], where: KeyPath, line: int | None
    ) -> None:
        problem = host_name_problem(name)
        if problem:
            lower = name.lower().replace("_", "-").replace(".", "-")
            hint = f"rename it, e.g. '{lower}'" if host_name_problem(lower) is None else None
            raise SchemaError(problem, location=self.doc.location(where), hint=hint)
        if name in group.hosts:
            raise InventoryError(
                msg(
                    "host '{host}' is defined twice in group '{group}' "
                    "(lines {first} and {second})",
                    host=name,
                    group=group.name,
                    first=group.hosts[name],
                    second=line,
                ),
                location=self.doc.location(where),
                hint=msg("a host may appear in several groups, but only once per group"),
            )
        group.hosts[name] = line or 0
        sources = {key: self.doc.location((*where, key)) for key in variables}
        definition = _HostDef(name, variables, self.doc.location(where), sources)
        self.hosts.setdefault(name, []).append(definition)

    def _children(self, parent: str, children: Any, path: KeyPath) -> None:
        if children is None:
            return
        if not isinstance(children, dict):
            raise SchemaError(
                f"'children' of group '{parent}' must be a mapping of group names, "
                f"got {type(children).__name__}",
                location=self.doc.location(path),
            )
        for name, body in children.items():
            self._link(parent, str(name), (*path, name))
            self._group(str(name), body, (*path, name))

    def _link(self, parent: str, child: str, path: KeyPath) -> None:
        if child == "all":
            raise InventoryError(
                msg("group 'all' cannot be a child of '{parent}'", parent=parent),
                location=self.doc.location(path),
            )
        self.groups.setdefault(child, _Group(child))
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
        if parent not in self.groups[child].parents:
            self.groups[child].parents.append(parent)

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for child in self.groups[name].children:
                if state.get(child) == 1:
                    cycle = " -> ".join([*trail[trail.index(child) :], child])
                    raise InventoryError(
                        msg("group cycle: {cycle}", cycle=cycle),
                        location=Location(self.doc.file, self._group_line(child), child),
                        hint=msg("a group cannot contain itself, directly or through its children"),
                    )
                if state.get(child) is None:
                    visit(child, [*trail, child])
            state[name] = 2

        for name in self.groups:
            if state.get(name) is None:
                visit(name, [name])

    def _group_line(self, name: str) -> int | None:
        for path, line in self.doc.lines.items():
            if path and path[-1] == name and (len(path) == 1 or path[-2] == "children"):
                return line
        return None

    def _depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}

        def depth(name: str) -> int:
            if name not in depths:
                parents = self.groups[name].parents
                depths[name] = 1 + max((depth(p) for p in parents), default=-1)
            return depths[name]

        for name in self.groups:
            depth(name)
        return depths

    def _members(self) -> dict[str, tuple[str, ...]]:
        """Every group's hosts, children included, in file order of the hosts."""
        order = list(self.hosts)
        members: dict[str, set[str]] = {}

        def collect(name: str) -> set[str]:
            if name not in members:
                found = set(self.groups[name].hosts)
                for child in self.groups[name].children:
                    found |= collect(child)
                members[name] = found
            return members[name]

        result = {name: tuple(h for h in order if h in collect(name)) for name in self.groups}
        result["all"] = tuple(order)
        grouped = {h for name, hosts in result.items() if name != "all" for h in hosts}
        result["ungrouped"] = tuple(h for h in order if h not in grouped)
        return result

    def _ancestors(self) -> dict[str, set[str]]:
        """Every group's parents, grandparents ... (``all`` included)."""
        found: dict[str, set[str]] = {}

        def of(name: str) -> set[str]:
            if name not in found:
                found[name] = set()
                for parent in self.groups[name].parents:
                    found[name] |= {parent, *of(parent)}
            return found[name]

        for name in self.groups:
            of(name)
        return found

    def _check_conflicts(
        self, name: str, groups: list[str], ancestors: dict[str, set[str]]
    ) -> None:
        """Two unrelated groups of a host must not pick different clusters for it."""
        own = {key for definition in self.hosts[name] for key in definition.vars}
        for key in CLUSTER_SETTINGS:
            if key in own:
                continue  # the host says it itself: no guessing
            setters = [g for g in groups if key in self.groups[g].vars]
            for i, first in enumerate(setters):
                for second in setters[i + 1 :]:
                    related = first in ancestors[second] or second in ancestors[first]
                    a, b = self.groups[first].vars[key], self.groups[second].vars[key]
                    if not related and a != b:
                        raise self._conflict(name, key, (first, a), (second, b))

    def _conflict(
        self, host: str, key: str, first: tuple[str, Any], second: tuple[str, Any]
    ) -> InventoryError:
        """The error for a host two unrelated groups give different ``key`` values."""
        where = [
            msg(
                "'{group}' (line {line}: {value!r})",
                group=group,
                line=self.groups[group].var_sources[key].line,
                value=value,
            )
            for group, value in (first, second)
        ]
        return InventoryError(
            msg(
                "host '{host}' gets a different `{key}` from groups {first} and {second}, and "
                "neither group is a child of the other, so which one wins would depend on the "
                "groups' names",
                host=host,
                key=key,
                first=where[0],
                second=where[1],
            ),
            location=self.hosts[host][0].source,
            hint=msg(
                "set `{key}` on host '{host}' itself (host vars win), or in one group only",
                key=key,
                host=host,
            ),
        )

    def _build(self) -> Inventory:
        members = self._members()
        depths = self._depths()
        ancestors = self._ancestors()
        hosts: dict[str, Host] = {}
        member_sets = {g: set(hs) for g, hs in members.items() if g in self.groups}
        for name, defs in self.hosts.items():
            groups = sorted(
                (g for g, hs in member_sets.items() if name in hs),
                key=lambda g: (depths[g], g),
            )
            self._check_conflicts(name, groups, ancestors)
            merged: dict[str, Any] = {}
            sources: dict[str, Location] = {}
            for layer in [self.groups[group] for group in groups] + defs:
                merged.update(layer.vars)
                sources.update(layer.var_sources)
            # only what the inventory says: provider defaults are applied once, by the plan
            provider = str(merged.get("provider") or DEFAULT_PROVIDER)
            shown = tuple(g for g in groups if g not in ("all", "ungrouped"))
            hosts[name] = Host(name, provider, merged, shown, defs[0].source, sources)
        return Inventory(self.doc.file, hosts, members)


def parse_inventory(doc: YamlDoc) -> Inventory:
    """Build an ``Inventory`` from a parsed YAML document (validates everything)."""
    return _Parser(doc).parse()


def load_inventory(path: str | Path) -> Inventory:
    """Read, parse and validate an inventory file, with its participants file when it names one
    (``participants_file``: each row's name and columns become a host's vars)."""
    from labtools.core.participants import attach_participants

    return attach_participants(parse_inventory(load_yaml(path)))


# ---------------------------------------------------------------------------- --limit patterns


def _split_pattern(pattern: str) -> list[str]:
    # ':' separates terms, except inside a [a:b] subscript; ',' too
    terms, depth, current = [], 0, ""
    for char in pattern:
        depth += (char == "[") - (char == "]")
        if char in ":," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    return [term for term in terms if term]


def _match_term(inventory: Inventory, term: str) -> list[str] | None:
    if term in ("all", "*"):
        return list(inventory.hosts)
    if term in inventory.hosts:
        return [term]
    if term in inventory.groups:
        return list(inventory.groups[term])
    if term.startswith("~"):
        regex = _regex(term, inventory)
        names = _names(inventory)
        found = [n for n in names if regex.search(n)]
    elif any(c in term for c in "*?["):
        found = [n for n in _names(inventory) if fnmatch.fnmatchcase(n, term)]
    else:
        return None
    if not found:
        return None
    hosts: list[str] = []
    for name in found:
        hosts += [name] if name in inventory.hosts else list(inventory.groups[name])
    return hosts


def _regex(term: str, inventory: Inventory) -> re.Pattern[str]:
    """``~REGEX`` of a pattern, compiled (a bad one is an InventoryError, not a traceback)."""
    try:
        return re.compile(term[1:])
    except re.error as exc:
        raise InventoryError(
            msg("bad regular expression '{regex}' in --limit: {error}", regex=term[1:], error=exc),
            location=Location(inventory.path, None, "--limit"),
            hint=msg("'~' starts a Python regular expression, e.g. ~lab-0[1-5]"),
        ) from exc


def _from_file(term: str, inventory: Inventory) -> list[str]:
    """``@FILE``: the patterns in a file, one per line (Ansible's retry files); ``#`` comments."""
    path = Path(term[1:].strip()).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InventoryError(
            msg("--limit {term}: cannot read {path}: {error}", term=term, path=path, error=exc),
            location=Location(inventory.path, None, "--limit"),
            hint=msg("@FILE names a file of host names or patterns, one per line"),
        ) from exc
    patterns = [
        line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]
    if not patterns:
        raise InventoryError(
            msg("--limit {term}: {path} names no host", term=term, path=path),
            location=Location(inventory.path, None, "--limit"),
            hint=msg("write one host name or pattern per line"),
        )
    return patterns


def _terms(inventory: Inventory, pattern: str) -> list[str]:
    """The terms of a pattern, ``@FILE`` terms replaced by the file's patterns."""
    terms: list[str] = []
    for term in _split_pattern(pattern):
        if term.startswith("@"):
            for line in _from_file(term, inventory):
                terms += _split_pattern(line)
        else:
            terms.append(term)
    return terms


def _names(inventory: Inventory) -> list[str]:
    return [*inventory.hosts, *(g for g in inventory.groups if g not in inventory.hosts)]


def select_hosts(inventory: Inventory, pattern: str | None) -> list[Host]:
    """Hosts matching an Ansible-style pattern (``web:&prod:!web-3``, ``@FILE``), in order."""
    if pattern is None or not pattern.strip():
        return list(inventory.hosts.values())
    union: set[str] = set()
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    for term in _terms(inventory, pattern):
        op, name = (term[0], term[1:].strip()) if term[0] in "&!" else ("", term)
        matched = _match_term(inventory, name)
        if matched is None:
            raise _unknown_pattern(inventory, name, pattern)
        if op == "&":
            intersect.append(set(matched))
        elif op == "!":
            exclude |= set(matched)
        else:
            union |= set(matched)
    if not union and (intersect or exclude):
        union = set(inventory.hosts)  # `!x` alone means everything but x, like Ansible
    for group in intersect:
        union &= group
    union -= exclude
    return [host for name, host in inventory.hosts.items() if name in union]


def _unknown_pattern(inventory: Inventory, name: str, pattern: str) -> InventoryError:
    hint = did_you_mean(name, _names(inventory))
    known = msg("known hosts and groups: {names}", names=", ".join(_names(inventory)[:12]))
    return InventoryError(
        msg(
            "host pattern '{name}' matches no host or group (in '{pattern}')",
            name=name,
            pattern=pattern,
        ),
        location=Location(inventory.path, None, "--limit"),
        hint=hint or known,
    )


def group_names(host: Host) -> list[str]:
    """Ansible's ``group_names``: the host's groups except ``all`` and ``ungrouped``."""
    return sorted(host.groups)


def compress_hosts(names: Sequence[str]) -> str:
    """``lab-01, lab-02, lab-03, team-a`` -> ``lab-[01:03], team-a`` (the inventory's ranges)."""
    out: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if len(run) >= 3:
            out.append(f"{run[0][0]}[{run[0][1]}:{run[-1][1]}]")
        else:
            out.extend(prefix + suffix for prefix, suffix in run)
        run.clear()

    for name in names:
        match = re.fullmatch(r"(.*?)(\d+|[a-z])", name)
        part = (match.group(1), match.group(2)) if match else (name, "")
        if run and match and _follows(run[-1], part):
            run.append(part)
            continue
        flush()
        if match:
            run.append(part)
        else:
            out.append(name)
    flush()
    return ", ".join(out)


def _follows(last: tuple[str, str], part: tuple[str, str]) -> bool:
    """``lab-02`` follows ``lab-01`` (same prefix and width); ``team-b`` follows ``team-a``."""
    (prefix, suffix), (new_prefix, new_suffix) = last, part
    if prefix != new_prefix or not suffix or len(suffix) != len(new_suffix):
        return False
    if suffix.isdigit() and new_suffix.isdigit():
        return int(new_suffix) == int(suffix) + 1
    return suffix.isalpha() and new_suffix.isalpha() and ord(new_suffix) == ord(suffix) + 1
