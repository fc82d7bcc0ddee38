"""Planning: select hosts, phases and tagged steps, and merge variables in documented precedence.

Precedence, lowest first: provider defaults < lab vars < inventory group vars < host vars (both
already merged in ``Host.vars``) < step vars < registered results < extra vars (``--set``). Magic
variables (``inventory_hostname``, ``lab_name``, ``provider``, ``group_names``, ``phase``) are set
last. Provider defaults (``profile``, ``namespace``...) are applied here, once, by the
``defaults`` function the caller passes (the provider registry's ``host_defaults``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from labtools.core.errors import ConfigError, InventoryError, Location, OptionError, TemplateError
from labtools.core.messages import Msg, Text, msg
from labtools.core.model import PHASES, Host, HostPlan, Inventory, Lab, Plan, Step

INTERNAL_VARS: tuple[str, ...] = ("project_root", "inventory_file")
"""Set by the application for every host (where the project is); never passed on to checks."""

Defaults = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""``(host name, merged vars) -> the settings to fill in`` (raises ConfigError when it cannot)."""


def no_defaults(host: str, variables: Mapping[str, Any]) -> Mapping[str, Any]:
    """No provider defaults: ``provider`` alone, ``auto`` when unset."""
    return {"provider": variables.get("provider") or "auto"}


# ---------------------------------------------------------------------------- tags


def selected_by_tags(step_tags: Sequence[str], tags: frozenset[str], skip: frozenset[str]) -> bool:
    """Ansible's tag rules: ``always`` runs unless skipped by name, ``never`` only when asked."""
    have = frozenset(step_tags) or frozenset({"untagged"})
    only = tags or frozenset({"all"})
    run = (
        "always" in have
        or ("all" in only and "never" not in have)
        or not have.isdisjoint(only)
        or ("tagged" in only and "untagged" not in have and "never" not in have)
    )
    if not run or not skip:
        return run
    if "all" in skip:
        return "always" in have and "always" not in skip
    if not have.isdisjoint(skip):
        return False
    return not ("tagged" in skip and "untagged" not in have)


SPECIAL_TAGS: tuple[str, ...] = ("all", "always", "never", "tagged", "untagged")


def lab_tags(lab: Lab) -> tuple[str, ...]:
    """Every tag the lab's steps carry, sorted."""
    return tuple(sorted({tag for steps in lab.phases.values() for s in steps for tag in s.tags}))


def check_tags(lab: Lab, tags: frozenset[str], flag: str) -> None:
    """A tag no step has is a mistake: OptionError with a did-you-mean and the known tags."""
    from labtools.core.yamlfile import did_you_mean

    known = (*lab_tags(lab), *SPECIAL_TAGS)
    for tag in sorted(tags):
        if tag not in known:
            listing = msg(
                "tags of {lab}: {tags}",
                lab=lab.name,
                tags=", ".join(lab_tags(lab)) or msg("(none)"),
            )
            close = did_you_mean(tag, known)
            raise OptionError(
                msg("{flag}: unknown tag '{tag}'", flag=flag, tag=tag),
                location=Location(lab.path),
                hint=msg("{close} ({listing})", close=close, listing=listing) if close else listing,
            )


# ---------------------------------------------------------------------------- hosts


def _lab_hosts(inventory: Inventory, lab: Lab, limit: str | None) -> list[Host]:
    from labtools.core.inventory import select_hosts

    try:
        hosts = select_hosts(inventory, lab.hosts)
    except InventoryError as exc:
        raise InventoryError(
            msg("the lab's hosts: {problem}", problem=exc.text),
            location=Location(lab.path, None, "hosts"),
            hint=exc.hint_text,
        ) from exc
    if limit is None or not limit.strip():
        return hosts
    limited = {host.name for host in select_hosts(inventory, limit)}
    chosen = [host for host in hosts if host.name in limited]
    if not chosen:
        raise InventoryError(
            msg(
                "--limit '{limit}' selects none of the lab's hosts ('{pattern}': {hosts})",
                limit=limit,
                pattern=lab.hosts,
                hosts=", ".join(h.name for h in hosts) or msg("none"),
            ),
            location=Location(inventory.path, None, "--limit"),
            hint=msg("run `invoke lab.list` to see the hosts and groups"),
        )
    return chosen


def _magic(host: Host, lab: Lab, provider: str) -> dict[str, Any]:
    return {
        "inventory_hostname": host.name,
        "lab_name": lab.name,
        "provider": provider,
        "group_names": sorted(host.groups),
    }


def _host_plan(
    host: Host, lab: Lab, steps: tuple[Step, ...], extra: Mapping[str, Any], defaults: Defaults
) -> HostPlan:
    extra = typed_extra_vars(extra, host, lab)
    explicit = {**lab.vars, **host.vars, **extra}
    try:
        filled = defaults(host.name, explicit)
    except ConfigError as exc:
        where = None if "provider" in extra else host.var_sources.get("provider")
        where = where or host.source or exc.location
        raise ConfigError(
            msg("host {host}: {problem}", host=host.name, problem=exc.text),
            location=where,
            hint=exc.hint_text,
        ) from exc
    merged = {**filled, **explicit}
    merged["provider"] = provider = str(merged.get("provider") or "auto")
    effective = replace(host, provider=provider, vars=merged)
    variables = {**merged, **_magic(host, lab, provider)}
    return HostPlan(host=effective, vars=variables, steps=steps, extra_vars=dict(extra))


# ---------------------------------------------------------------------------- --set types

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_KINDS: tuple[tuple[type, Msg], ...] = (
    (bool, msg("true or false")),
    (int, msg("an integer")),
    (float, msg("a number")),
    (list, msg("a list")),
    (dict, msg("a mapping")),
)


def typed_extra_vars(extra: Mapping[str, Any], host: Host, lab: Lab) -> dict[str, Any]:
    """``--set`` values (text) typed by the key's schema; every other value stays text.

    The schema of a key is a provider setting's type (``cpus`` is an integer, ``keep`` a
    boolean, ``addons`` a list) or the type of the value it overrides on this host (the
    inventory's, else the lab's): ``--set replicas=3`` is 3 where the lab has ``replicas: 1``,
    while ``--set kubernetes_version=1.30`` stays ``"1.30"`` and ``--set app_name='web: v2'``
    stays a string. A value that does not fit its schema is an OptionError.
    """
    from labtools.core.inventory import SETTING_TYPES, SETTINGS

    typed: dict[str, Any] = {}
    for key, value in extra.items():
        where: Text
        if key in SETTING_TYPES:
            like, where = SETTING_TYPES[key](), msg("a provider setting")
        elif key in host.vars:
            like, where = host.vars[key], _source(host.var_sources.get(key), host.source)
        else:
            like, where = lab.vars.get(key), _source(None, Location(lab.path, None, "vars"))
        typed[key] = _typed(value, like, (key,), where)
        if key in SETTINGS and isinstance(value, str):
            problem = SETTINGS[key](typed[key])
            if problem:
                raise OptionError(
                    msg("--set {key}={value}: {problem}", key=key, value=value, problem=problem),
                    hint=_set_hint(key),
                )
    return typed


def _source(location: Location | None, fallback: Location | None) -> Msg:
    """``the value it overrides (inventory.yml:12)``: where the overridden value comes from."""
    place = location or fallback
    if place is None:
        return msg("the value it overrides")
    where = place.file if place.line is None else f"{place.file}:{place.line}"
    return msg("the value it overrides ({where})", where=where)


def _typed(value: Any, like: Any, path: tuple[str, ...], where: Text) -> Any:
    """``value`` (text, or nested mappings of text from ``--set a.b=x``) typed like ``like``."""
    if isinstance(value, Mapping):
        inner = like if isinstance(like, Mapping) else {}
        return {k: _typed(v, inner.get(k), (*path, k), where) for k, v in value.items()}
    if not isinstance(value, str) or like is None or isinstance(like, str):
        return value
    found = next(((t, w) for t, w in _KINDS if isinstance(like, t)), None)
    if found is None:
        return value
    kind, what = found
    try:
        return _parse_as(kind, value)
    except ValueError as exc:
        dotted = ".".join(path)
        raise OptionError(
            msg(
                "--set {key}={value}: {key} is {kind} ({where}), got {value!r}",
                key=dotted,
                value=value,
                kind=what,
                where=where,
            ),
            hint=_set_hint(dotted, kind),
        ) from exc


def _parse_as(kind: type, text: str) -> Any:
    """``text`` as a bool, int, float, list or mapping (ValueError when it is not one)."""
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValueError(text)
    if kind is int:
        return int(text.strip())
    if kind is float:
        return float(text.strip())
    import yaml

    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(text) from exc
    if kind is list and isinstance(parsed, str):  # `--set addons=a,b`
        parsed = [item.strip() for item in parsed.split(",") if item.strip()]
    if not isinstance(parsed, kind):
        raise ValueError(text)
    return parsed


def _set_hint(key: str, kind: type | None = None) -> Msg:
    """How to write a value of ``kind`` with --set."""
    examples = {bool: "true", int: "3", float: "1.5", list: "'[a, b]'", dict: "'{a: 1}'"}
    if kind in examples:
        return msg("write --set {key}={example}", key=key, example=examples[kind])
    return msg("see `invoke lab.list` for the settings and their types (--set {key}=...)", key=key)


# ---------------------------------------------------------------------------- plan


def _check_phases(phases: Sequence[str]) -> tuple[str, ...]:
    from labtools.core.options import unknown_phase

    for phase in phases:
        if phase not in PHASES:
            raise unknown_phase(phase)
    return tuple(dict.fromkeys(phases))


def build_plan(
    inventory: Inventory,
    lab: Lab,
    *,
    phases: Sequence[str],
    limit: str | None = None,
    tags: frozenset[str] = frozenset(),
    skip_tags: frozenset[str] = frozenset(),
    extra_vars: Mapping[str, Any] | None = None,
    defaults: Defaults = no_defaults,
) -> Plan:
    """Select hosts (lab pattern and --limit), phases and tagged steps; merge each host's vars."""
    chosen = _check_phases(phases)
    check_tags(lab, tags, "--tags")
    check_tags(lab, skip_tags, "--skip-tags")
    steps = tuple(
        step
        for phase in chosen
        for step in lab.phases.get(phase, ())
        if selected_by_tags(step.tags, frozenset(tags), frozenset(skip_tags))
    )
    extra = dict(extra_vars or {})
    hosts = tuple(
        _host_plan(host, lab, steps, extra, defaults) for host in _lab_hosts(inventory, lab, limit)
    )
    return Plan(lab=lab, phases=chosen, hosts=hosts)


# ---------------------------------------------------------------------------- step variables


@functools.lru_cache(maxsize=4096)
def _references(text: str) -> frozenset[str]:
    """Names a template string refers to (for ordering templated variables)."""
    import jinja2.meta

    from labtools.core.render import environment

    try:
        return frozenset(jinja2.meta.find_undeclared_variables(environment().parse(text)))
    except jinja2.TemplateSyntaxError:
        return frozenset()


def no_log_names(lab: Lab) -> frozenset[str]:
    """Variables the lab's ``no_log`` steps refer to: a ``--set`` value for one is a secret.

    A value given on the command line for a step that must not be logged is masked in every
    output and never passed on to the checks, like the lab's ``secrets:``; values from the lab
    or the inventory are left alone (``app_name`` in a no_log step stays readable elsewhere).
    """
    names: set[str] = set()
    for steps in lab.phases.values():
        for step in steps:
            if step.no_log:
                for text in _template_strings([step.spec, step.stdin, step.env, step.vars]):
                    names |= _references(text)
    return frozenset(names)


def _template_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if ("{{" in value or "{%" in value) else []
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _template_strings(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _template_strings(item)]
    return []


def resolve_vars(
    variables: Mapping[str, Any], keys: set[str] | None = None, source: Location | None = None
) -> dict[str, Any]:
    """Render the variables (of ``keys``) whose values are templates (``url: http://{{ host }}``),
    in dependency order; one that cannot render yet becomes an undefined that says why when used.
    """
    resolved = dict(variables)
    candidates = set(resolved) if keys is None else keys & set(resolved)
    pending = {key for key in candidates if _template_strings(resolved[key])}
    if not pending:
        return resolved
    from labtools.core.render import environment, render_value

    deps = {
        key: {n for t in _template_strings(resolved[key]) for n in _references(t)} & pending
        for key in pending
    }
    done: set[str] = set()

    def visit(key: str, trail: tuple[str, ...]) -> None:
        if key in done:
            return
        if key in trail:
            cycle = " -> ".join((*trail[trail.index(key) :], key))
            raise TemplateError(f"variables refer to each other: {cycle}", location=source)
        for dep in sorted(deps[key]):
            visit(dep, (*trail, key))
        try:
            resolved[key] = render_value(resolved[key], resolved, source=source)
        except TemplateError as exc:
            # not an error until a template uses it: it may need a result registered later
            why = f"variable '{key}' cannot be rendered here: {exc.message}"
            resolved[key] = environment().undefined(hint=why, name=key)
        done.add(key)

    for key in sorted(pending):
        visit(key, ())
    return resolved


def step_vars(host_plan: HostPlan, step: Step, registered: Mapping[str, Any]) -> dict[str, Any]:
    """A step's variables: host plan vars < step vars < registered < extra vars, plus ``phase``.

    Only lab, inventory and step variables are templates; registered results and --set values
    are data and are never rendered (command output must not be able to inject a template).
    """
    extra = host_plan.extra_vars
    magic = {k: host_plan.vars[k] for k in _MAGIC_KEYS if k in host_plan.vars}
    merged: dict[str, Any] = {
        **host_plan.vars,
        **step.vars,
        **registered,
        **extra,
        **magic,
        "phase": step.phase,
    }
    fixed = {*registered, *extra, *magic, "phase"}
    templated = {key for key in (*host_plan.vars, *step.vars) if key not in fixed}
    return resolve_vars(merged, templated, step.source)


_MAGIC_KEYS = ("inventory_hostname", "lab_name", "provider", "group_names")
