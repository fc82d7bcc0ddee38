"""The RBAC authorizer, its rule resolver, escalation checks and ClusterRole aggregation.

Sources (kube-apiserver v1.32): `plugin/pkg/auth/authorizer/rbac/rbac.go` (RuleAllows),
`pkg/apis/rbac/v1/evaluation_helpers.go` (verb/group/resource/name/URL matching),
`pkg/registry/rbac/validation/rule.go` (VisitRulesFor, appliesTo, ConfirmNoEscalation),
`pkg/registry/rbac/validation/policy_comparator.go` (Covers, BreakdownRule),
`policy_compact.go` (CompactRules), `pkg/registry/rbac/escalation_check.go`,
`pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`.

Resolved rules are cached per (user, groups, namespace) and the cache is dropped on any change
to a Role, ClusterRole or binding, so a request costs a dict lookup and a short rule scan.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .authn import UserInfo
from .selectors import selector_matches

if TYPE_CHECKING:
    from .store import Obj, Store

GROUP = "rbac.authorization.k8s.io"
ROLES = (GROUP, "roles")
CLUSTER_ROLES = (GROUP, "clusterroles")
ROLE_BINDINGS = (GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = (GROUP, "clusterrolebindings")
RBAC_KEYS = frozenset((ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS))
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes of one request (or of a review's spec)."""

    user: UserInfo
    verb: str
    is_resource: bool = True
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


# ---- rule matching (evaluation_helpers.go) -------------------------------------------------
def rule_allows(a: Attributes, rule: Obj) -> bool:
    """RuleAllows: one PolicyRule against the request attributes."""
    verbs = rule.get("verbs") or ()
    if "*" not in verbs and a.verb not in verbs:
        return False
    if not a.is_resource:
        return any(_url_matches(u, a.path) for u in rule.get("nonResourceURLs") or ())
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and a.api_group not in groups:
        return False
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    if not _resource_matches(rule.get("resources") or (), combined, a.subresource):
        return False
    names = rule.get("resourceNames")
    return not names or a.name in names


def _resource_matches(resources: Any, combined: str, sub: str) -> bool:
    for res in resources:
        if res in ("*", combined):
            return True
        if sub and res == "*/" + sub:
            return True
    return False


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in ("*", path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url.rstrip("*"))


# ---- subjects (rule.go appliesToUser) -------------------------------------------------------
def applies_to(user: UserInfo, subject: Obj, namespace: str) -> bool:
    """Whether one binding subject names this user."""
    kind = subject.get("kind")
    name = str(subject.get("name", ""))
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or namespace
        return bool(ns) and user.name == f"{SA_PREFIX}{ns}:{name}"
    return False


def _describe_subject(subject: Obj, binding_ns: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_ns}"'
    return f'{kind} "{name}"'


@dataclass(frozen=True)
class Source:
    """Where a rule came from, for `RBAC: allowed by ...` reasons."""

    binding_kind: str
    binding: str
    role_kind: str
    role: str
    subject: str

    def __str__(self) -> str:
        return (
            f'{self.binding_kind} "{self.binding}" of {self.role_kind} "{self.role}" '
            f"to {self.subject}"
        )


@dataclass(frozen=True)
class Resolved:
    """Every rule that applies to a user in a namespace, and the resolution errors."""

    rules: tuple[tuple[Source, Obj], ...]
    errors: tuple[str, ...]


def aggregate_errors(errors: tuple[str, ...] | list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or `[a, b]`."""
    if len(errors) == 1:
        return errors[0]
    return "[" + ", ".join(errors) + "]"


class RBAC:
    """The authorizer: system:masters first (the privileged-group authorizer), then RBAC."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.generation = 0  # bumped by every RBAC object change
        self.cluster_roles_generation = 0
        self.aggregated_at = -1  # cluster_roles_generation the aggregation controller last saw
        self._cache: dict[tuple[str, tuple[str, ...], str], Resolved] = {}
        self._lock = threading.Lock()
        store.on_change.append(self._on_change)

    def _on_change(self, key: tuple[str, str], kind: str, obj: Obj) -> None:
        if key in RBAC_KEYS:
            self.generation += 1
            if key == CLUSTER_ROLES:
                self.cluster_roles_generation += 1
            self._cache = {}

    # ---- resolution ----------------------------------------------------------------------
    def resolve(self, user: UserInfo, namespace: str) -> Resolved:
        """RulesFor with sources: cluster role bindings, then the namespace's role bindings."""
        key = (user.name, user.groups, namespace)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self.generation
        rules: list[tuple[Source, Obj]] = []
        errors: list[str] = []
        with self.store.lock:
            for binding in self.store.list(CLUSTER_ROLE_BINDINGS):
                self._visit(user, binding, "", rules, errors)
            if namespace:
                for binding in self.store.list(ROLE_BINDINGS, namespace):
                    self._visit(user, binding, namespace, rules, errors)
        resolved = Resolved(tuple(rules), tuple(errors))
        with self._lock:
            if len(self._cache) > 2048:
                self._cache = {}
            if generation == self.generation:  # not resolved from a stale view
                self._cache[key] = resolved
        return resolved

    def _visit(
        self,
        user: UserInfo,
        binding: Obj,
        namespace: str,
        rules: list[tuple[Source, Obj]],
        errors: list[str],
    ) -> None:
        subject = next(
            (s for s in binding.get("subjects") or () if applies_to(user, s, namespace)), None
        )
        if subject is None:
            return
        ref = binding.get("roleRef") or {}
        role_rules, error = self.role_rules(ref, namespace)
        if error:
            errors.append(error)
            return
        meta = binding["metadata"]
        source = Source(
            "RoleBinding" if namespace else "ClusterRoleBinding",
            f"{meta['name']}/{namespace}" if namespace else meta["name"],
            ref.get("kind", ""),
            ref.get("name", ""),
            _describe_subject(subject, namespace),
        )
        rules.extend((source, r) for r in role_rules)

    def role_rules(self, ref: Obj, namespace: str) -> tuple[list[Obj], str]:
        """GetRoleReferenceRules: the rules a roleRef points at, or the lister's error."""
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "Role":
            role = self.store.get(ROLES, namespace, name)
            if role is None:
                return [], f'role.{GROUP} "{name}" not found'
        elif kind == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, "", name)
            if role is None:
                return [], f'clusterrole.{GROUP} "{name}" not found'
        else:
            return [], f'unsupported role reference kind: "{kind}"'
        return list(role.get("rules") or []), ""

    # ---- decisions -----------------------------------------------------------------------
    def authorize(self, a: Attributes) -> tuple[bool, str]:
        """(allowed, reason) as the union of the privileged-group and RBAC authorizers."""
        if a.user.is_master:
            return True, ""
        resolved = self.resolve(a.user, a.namespace)
        for source, rule in resolved.rules:
            if rule_allows(a, rule):
                return True, f"RBAC: allowed by {source}"
        if resolved.errors:
            return False, "RBAC: " + aggregate_errors(resolved.errors)
        return False, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Obj], list[str]]:
        """RulesFor: the plain rules (SelfSubjectRulesReview, escalation checks)."""
        resolved = self.resolve(user, namespace)
        return [rule for _, rule in resolved.rules], list(resolved.errors)

    # ---- escalation (rule.go ConfirmNoEscalation) ------------------------------------------
    def escalation_error(self, user: UserInfo, namespace: str, rules: list[Obj]) -> str:
        """The `attempting to grant RBAC permissions not currently held` text, or ''."""
        owner, errors = self.rules_for(user, namespace)
        missing = [r for r in _breakdown_all(rules) if not any(_covers(o, r) for o in owner)]
        if not missing:
            return ""
        described = sorted({compact_string(r) for r in compact_rules(missing)})
        groups = " ".join(_go_quote(g) for g in user.groups)
        msg = (
            f"user {_go_quote(user.name)} (groups=[{groups}]) is attempting to grant RBAC "
            "permissions not currently held:\n" + "\n".join(described)
        )
        if errors:
            msg += "; resolution errors: [" + ", ".join(errors) + "]"
        return msg

    # ---- aggregation controller --------------------------------------------------------------
    def aggregate(self) -> list[Obj]:
        """ClusterRoles whose aggregated rules changed, with their new rules (not yet stored)."""
        roles = {r["metadata"]["name"]: r for r in self.store.list(CLUSTER_ROLES)}
        changed: dict[str, Obj] = {}
        for _ in range(5):  # aggregated roles can aggregate others (admin <- edit <- view)
            progress = False
            for name in sorted(roles):
                role = roles[name]
                selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors")
                if not selectors:
                    continue
                rules = _aggregated_rules(name, selectors, roles)
                if rules != (role.get("rules") or []):
                    role["rules"] = rules
                    changed[name] = role
                    progress = True
            if not progress:
                break
        return list(changed.values())


def _aggregated_rules(name: str, selectors: list[Obj], roles: dict[str, Obj]) -> list[Obj]:
    rules: list[Obj] = []
    for selector in selectors:
        for other in sorted(roles):
            if other == name:
                continue
            labels = roles[other]["metadata"].get("labels") or {}
            if not selector_matches(selector, labels):
                continue
            for rule in roles[other].get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
    return rules


# ---- policy_comparator.go / policy_compact.go ----------------------------------------------
def _breakdown_all(rules: list[Obj]) -> Iterator[Obj]:
    for rule in rules:
        yield from breakdown(rule)


def breakdown(rule: Obj) -> Iterator[Obj]:
    """BreakdownRule: one verb, one group, one resource, one name per rule."""
    names = rule.get("resourceNames") or []
    for group in rule.get("apiGroups") or []:
        for res in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                if names:
                    for name in names:
                        yield {
                            "apiGroups": [group],
                            "resources": [res],
                            "verbs": [verb],
                            "resourceNames": [name],
                        }
                else:
                    yield {"apiGroups": [group], "resources": [res], "verbs": [verb]}
    for url in rule.get("nonResourceURLs") or []:
        for verb in rule.get("verbs") or []:
            yield {"nonResourceURLs": [url], "verbs": [verb]}


def _has_all(owner: list[str], wanted: list[str]) -> bool:
    return all(w in owner for w in wanted)


def _covers(owner: Obj, sub: Obj) -> bool:
    """ruleCovers: does one owner rule cover one broken-down rule."""
    verbs = owner.get("verbs") or []
    groups = owner.get("apiGroups") or []
    if not ("*" in verbs or _has_all(verbs, sub.get("verbs") or [])):
        return False
    if not ("*" in groups or _has_all(groups, sub.get("apiGroups") or [])):
        return False
    if not _resources_cover(owner.get("resources") or [], sub.get("resources") or []):
        return False
    owner_urls = owner.get("nonResourceURLs") or []
    for url in sub.get("nonResourceURLs") or []:
        if not any(_url_covers(o, url) for o in owner_urls):
            return False
    owner_names = owner.get("resourceNames") or []
    sub_names = sub.get("resourceNames") or []
    if not sub_names:
        return not owner_names
    return not owner_names or _has_all(owner_names, sub_names)


def _resources_cover(owner: list[str], wanted: list[str]) -> bool:
    if "*" in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path:
            return False
        if "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    if owner == path:
        return True
    return owner.endswith("*") and path.startswith(owner.rstrip("*"))


def compact_rules(rules: list[Obj]) -> list[Obj]:
    """CompactRules: merge single-group single-resource rules that differ only in verbs."""
    compacted: list[Obj] = []
    simple: dict[tuple[str, str, str | None], Obj] = {}
    for rule in rules:
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        names = rule.get("resourceNames") or []
        if len(groups) != 1 or len(resources) != 1 or len(names) > 1 or rule.get("nonResourceURLs"):
            compacted.append(rule)
            continue
        key = (groups[0], resources[0], names[0] if names else None)
        if key in simple:
            verbs = simple[key]["verbs"]
            verbs.extend(v for v in rule.get("verbs") or [] if v not in verbs)
        else:
            simple[key] = {**rule, "verbs": list(rule.get("verbs") or [])}
    return compacted + list(simple.values())


def compact_string(rule: Obj) -> str:
    """rbacv1helpers.CompactString: `{APIGroups:["apps"], Resources:["deployments"], ...}`."""
    parts = []
    for label, key in (
        ("APIGroups", "apiGroups"),
        ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs"),
    ):
        values = rule.get(key) or []
        if values:
            parts.append(f"{label}:[" + " ".join(_go_quote(v) for v in values) + "]")
    return "{" + ", ".join(parts) + "}"


def _go_quote(text: str) -> str:
    """Go's %q of a plain string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = [
    "RBAC",
    "RBAC_KEYS",
    "Attributes",
    "aggregate_errors",
    "applies_to",
    "breakdown",
    "compact_rules",
    "compact_string",
    "rule_allows",
]
