"""Admission: what runs between decoding a write and storing it, as kube-apiserver v1.32 does.

Mutating (before validation): Pod resource defaulting (requests from limits), LimitRanger
defaults, canonical quantities. Validating (after field validation, under the API lock so quota
reservations are atomic): RBAC's own escalation check on roles and bindings
(`pkg/registry/rbac/*/policybased/storage.go`), Secret type rules and immutable objects
(`update_rules.py`), LimitRanger min/max, and ResourceQuota (`quota.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import limitranges, quota, update_rules
from .defaults import _qos
from .quantity import normalize_list
from .rbac import GROUP, Attributes
from .status import ApiError

if TYPE_CHECKING:
    from .api import WriteOptions
    from .authn import UserInfo
    from .rbac import RBAC
    from .resources import Resource
    from .store import Obj, Store

LIMIT_RANGES = ("", "limitranges")
QUOTAS = ("", "resourcequotas")
FULL_AUTHORITY = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]
# quota evaluators that charge updates (pods only charge creation)
UPDATE_CHARGED = (("", "services"), ("", "persistentvolumeclaims"))


def forbidden_object(res: Resource, name: str, message: str) -> ApiError:
    """apierrors.NewForbidden(groupResource, name, err) for a storage or admission refusal."""
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    where = f'{res.group_resource} "{name}"' if name else res.group_resource
    return ApiError(403, "Forbidden", f"{where} is forbidden: {message}", details)


DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def _protect(obj: Obj, finalizer: str) -> None:
    """StorageObjectInUseProtection: claims and volumes get their protection finalizer."""
    finalizers = obj.setdefault("metadata", {}).setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)


class Admission:
    """The admission chain the Api calls on every create and update."""

    def __init__(self, store: Store, rbac: RBAC) -> None:
        self.store = store
        self.rbac = rbac

    # ---- mutating ------------------------------------------------------------------------
    def mutate(self, res: Resource, obj: Obj, old: Obj | None, opts: WriteOptions) -> None:
        """Defaulting admission plugins (LimitRanger) and quantity canonicalisation."""
        key = res.key
        if key == ("", "pods") and old is None:
            spec = obj.get("spec") or {}
            _default_pod_resources(spec)
            ns = obj["metadata"].get("namespace", "")
            limitranges.apply_defaults(obj, self.store.list(LIMIT_RANGES, ns))
            obj.setdefault("status", {})["qosClass"] = _qos(spec)
        elif key == ("", "secrets"):
            _merge_string_data(obj)
        elif key == LIMIT_RANGES:
            limitranges.default_limit_range(obj)
        elif key == QUOTAS:
            spec = obj.get("spec") or {}
            if "hard" in spec:
                spec["hard"] = normalize_list(spec["hard"])
        elif key == ("", "persistentvolumeclaims"):
            if old is None:
                self._default_storage_class(obj)
                _protect(obj, "kubernetes.io/pvc-protection")
            res_spec = (obj.get("spec") or {}).get("resources") or {}
            for field in ("requests", "limits"):
                if field in res_spec:
                    res_spec[field] = normalize_list(res_spec[field])

        elif key == ("", "persistentvolumes") and old is None:
            _protect(obj, "kubernetes.io/pv-protection")

    def _default_storage_class(self, claim: Obj) -> None:
        """DefaultStorageClass (plugin/pkg/admission/storage/storageclass/setdefault): a claim
        without storageClassName gets the default class (the newest of several)."""
        spec = claim.setdefault("spec", {})
        if "storageClassName" in spec and spec["storageClassName"] is not None:
            return
        defaults = [
            sc
            for sc in self.store.list(("storage.k8s.io", "storageclasses"))
            if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"
        ]
        if defaults:
            newest = max(defaults, key=lambda sc: sc["metadata"].get("creationTimestamp", ""))
            spec["storageClassName"] = newest["metadata"]["name"]

    # ---- validating ----------------------------------------------------------------------
    def validate(
        self, res: Resource, obj: Obj, old: Obj | None, opts: WriteOptions, subresource: str = ""
    ) -> None:
        """Validating plugins and registry checks; raises the real server's ApiError."""
        if subresource == "status":
            return
        update_rules.check(res, obj, old)
        user: UserInfo | None = opts.user
        if res.group == GROUP and user is not None and not user.is_master:
            self._no_escalation(res, obj, old, user)
        ns = obj["metadata"].get("namespace", "")
        if res.key == ("", "pods") and old is None:
            errors = limitranges.pod_errors(obj, self.store.list(LIMIT_RANGES, ns))
            if errors:
                raise forbidden_object(res, _name(obj), _aggregate(errors))
        elif res.key == ("", "persistentvolumeclaims") and old is None:
            errors = limitranges.pvc_errors(obj, self.store.list(LIMIT_RANGES, ns))
            if errors:
                raise forbidden_object(res, _name(obj), _aggregate(errors))
        if ns and (old is None or res.key in UPDATE_CHARGED):
            self._quota(res, obj, old, ns, opts)

    def _quota(self, res: Resource, obj: Obj, old: Obj | None, ns: str, opts: WriteOptions) -> None:
        quotas = self.store.list(QUOTAS, ns)
        if not quotas:
            return
        error, reserved = quota.check(res.key, obj, old, quotas)
        if error:
            raise forbidden_object(res, _name(obj), error)
        if not opts.dry_run:
            for q in reserved:
                self.store.put(QUOTAS, q)

    # ---- RBAC storage: escalation_check.go, policybased/storage.go -------------------------
    def _no_escalation(self, res: Resource, obj: Obj, old: Obj | None, user: UserInfo) -> None:
        name = _name(obj)
        ns = obj["metadata"].get("namespace", "")
        if res.kind in ("Role", "ClusterRole"):
            self._role_escalation(res, obj, old, user, ns)
        elif res.kind in ("RoleBinding", "ClusterRoleBinding"):
            ref = obj.get("roleRef") or {}
            plural = "roles" if ref.get("kind") == "Role" else "clusterroles"
            bind = Attributes(
                user, "bind", True, ns, ref.get("apiGroup", ""), "", plural, "", ref.get("name", "")
            )
            if self.rbac.authorize(bind)[0]:
                return
            rules, error = self.rbac.role_rules(ref, ns)
            if error:
                raise forbidden_object(res, name, error)
            message = self.rbac.escalation_error(user, ns, rules)
            if message:
                raise forbidden_object(res, name, message)

    def _role_escalation(
        self, res: Resource, obj: Obj, old: Obj | None, user: UserInfo, ns: str
    ) -> None:
        rules = obj.get("rules") or []
        aggregation = obj.get("aggregationRule")
        if (
            old is not None
            and rules == (old.get("rules") or [])
            and aggregation == old.get("aggregationRule")
        ):
            return
        # RoleEscalationAuthorized: `escalate` on the request's resource (a create has no name)
        target = _name(obj) if old is not None else ""
        escalate = Attributes(user, "escalate", True, ns, GROUP, "v1", res.plural, "", target)
        if self.rbac.authorize(escalate)[0]:
            return
        message = self.rbac.escalation_error(user, ns, rules)
        if message:
            raise forbidden_object(res, _name(obj), message)
        if aggregation and self.rbac.escalation_error(user, "", FULL_AUTHORITY):
            raise forbidden_object(
                res, _name(obj), "must have cluster-admin privileges to use the aggregationRule"
            )


def _default_pod_resources(spec: Obj) -> None:
    """SetDefaults_Pod: a container's missing requests default to its limits; canonical values."""
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources")
        if not isinstance(res, dict):
            continue
        for field in ("limits", "requests"):
            if field in res:
                res[field] = normalize_list(res[field])
        limits = res.get("limits") or {}
        if limits:
            requests = res.setdefault("requests", {})
            for k, v in limits.items():
                requests.setdefault(k, v)


def _merge_string_data(secret: Obj) -> None:
    """The v1 -> internal conversion: stringData is written into data (base64) and dropped."""
    import base64

    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = secret.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        secret["data"] = data


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "")


def _aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


__all__ = ["Admission", "forbidden_object"]
