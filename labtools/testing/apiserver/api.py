"""The API semantics on top of the store: create, update, patch, delete, scale, events."""

from __future__ import annotations

import builtins
import copy
import ipaddress
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import fieldmanager, strict
from . import resources as R
from .defaults import GENERATION_GROUPS, apply_defaults, validate
from .jobs import generate_job_selector
from .patch import json_patch, merge_patch, strategic_merge
from .schema import converter_error, go_value, json_error, smd_errors, unknown_fields
from .selectors import match_requirements, parse_fields, parse_labels, selector_string
from .status import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .store import Obj, Store, copy_of, now_micro, now_rfc3339

if TYPE_CHECKING:
    from .admission import Admission

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SERVICE_NET = ipaddress.ip_network("10.96.0.0/12")
NODEPORT_LOW, NODEPORT_HIGH, NODEPORT_BAND = 30000, 32767, 86


def random_suffix(n: int = 5) -> str:
    """Random chars from the apiserver's name-generation alphabet."""
    return "".join(random.choice(ALPHABET) for _ in range(n))


@dataclass
class WriteOptions:
    """Query options of a write request."""

    dry_run: bool = False
    field_validation: str = "Warn"
    field_manager: str = ""
    force: bool = False
    warnings: list[str] = field(default_factory=list)
    # who asked (authn.UserInfo); None for the fake's own controllers, which are trusted
    user: Any = None
    # the managers an apply computed (fieldmanager.apply), stored with the object
    applied: Any = None
    # the manager of a write that names none: its User-Agent's product ("kubectl")
    default_manager: str = ""

    def manager(self, fallback: str = "unknown") -> str:
        """The field manager of this write."""
        return self.field_manager or self.default_manager or fallback


# what the fake's controllers write with (their managedFields manager)
CONTROLLER_MANAGER = "kube-controller-manager"


class Api:
    """API server semantics shared by HTTP handlers and controllers."""

    def __init__(self, store: Store, node_name: str = "minikube") -> None:
        self.store = store
        self.node_name = node_name
        self.lock = threading.RLock()
        self.kick: Callable[[], None] = lambda: None
        # admission plugins (admission.py), set by the App; None: a bare store-backed API
        self.admission: Admission | None = None

    @staticmethod
    def controller_opts() -> WriteOptions:
        """The options of a controller's own write (its field manager)."""
        return WriteOptions(field_manager=CONTROLLER_MANAGER)

    # ---- reads -------------------------------------------------------------------------
    def get(self, res: R.Resource, ns: str, name: str) -> Obj:
        """One object or 404."""
        if res.kind == "ComponentStatus":
            found = [c for c in component_statuses() if c["metadata"]["name"] == name]
            if not found:
                raise not_found(res, name)
            return found[0]
        obj = self.store.get(res.key, ns if res.namespaced else "", name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def list(
        self, res: R.Resource, ns: str | None, label_selector: str = "", field_selector: str = ""
    ) -> list[Obj]:
        """Objects filtered by namespace and selectors (a bad selector is a 400, even on none)."""
        match = self.matcher(res, label_selector, field_selector)
        if res.kind == "ComponentStatus":
            items = component_statuses()
        else:
            items = self.store.list(res.key, ns if res.namespaced else None)
        return [o for o in items if match(o)]

    def matcher(
        self, res: R.Resource, label_selector: str, field_selector: str
    ) -> Callable[[Obj], bool]:
        """The predicate of a label and a field selector, both parsed (and checked) once."""
        reqs = parse_labels(label_selector) if label_selector else None
        fields = parse_fields(field_selector, res.kind, res.group) if field_selector else None

        def match(obj: Obj) -> bool:
            labels = obj.get("metadata", {}).get("labels") or {}
            if reqs is not None and not match_requirements(reqs, labels):
                return False
            return fields is None or fields(obj)

        return match

    def matches(self, res: R.Resource, obj: Obj, label_selector: str, field_selector: str) -> bool:
        """Whether an object passes label and field selectors."""
        return self.matcher(res, label_selector, field_selector)(obj)

    # ---- create ------------------------------------------------------------------------
    def _check_namespace(self, res: R.Resource, ns: str, name: str = "") -> None:
        if not res.namespaced:
            return
        nso = self.store.get(R.NAMESPACE.key, "", ns)
        if nso is None:
            raise not_found(R.NAMESPACE, ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                # NamespaceLifecycle: NewForbidden(resource, the object's name, ...)
                f'{res.plural} "{name}" is forbidden: unable to create '
                f"new content in namespace {ns} because it is being terminated",
                {"kind": res.plural, "name": name},
            )

    def _check_types(self, res: R.Resource, obj: Obj) -> None:
        """A body the JSON decoder cannot put into the Go types is a BadRequest (create, PUT)."""
        err = json_error(res.kind, obj)
        if err:
            raise bad_request(
                f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: {err}'
            )

    def _check_fields(self, res: R.Resource, obj: Obj, opts: WriteOptions) -> None:
        lenient = opts.field_validation in ("Ignore", "Warn")
        unknown = strict.unknown_fields(res.group, res.version, res.kind, obj, drop=lenient)
        if unknown is None:
            unknown = unknown_fields(res.kind, obj)
        if not unknown or opts.field_validation == "Ignore":
            return
            return
        texts = [f'unknown field "{u}"' for u in unknown]
        if opts.field_validation == "Strict":
            raise bad_request(
                f'{res.kind} in version "{res.version}" cannot be handled as a '
                f"{res.kind}: strict decoding error: " + ", ".join(texts)
            )
        opts.warnings.extend(texts)

    def _checked_copy(self, res: R.Resource, obj: Obj, opts: WriteOptions, internal: bool) -> Obj:
        """A private copy of a body; types and fields checked unless a controller wrote it."""
        obj = copy.deepcopy(obj)
        if not internal:
            self._check_types(res, obj)
            self._check_fields(res, obj, opts)
        return obj

    def create(
        self,
        res: R.Resource,
        ns: str,
        obj: Obj,
        opts: WriteOptions | None = None,
        internal: bool = False,
    ) -> Obj:
        """POST: validate, default, allocate and store."""
        opts = opts or WriteOptions()
        obj = self._checked_copy(res, obj, opts, internal)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != ns:
                raise bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = meta["generateName"][:58] + random_suffix()
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "selfLink"):
            meta.pop(key, None)
        if res.kind == "HorizontalPodAutoscaler":
            obj["status"] = {}  # PrepareForCreate: the controller owns the status
        apply_defaults(res, obj)
        if self.admission is not None:
            self.admission.mutate(res, obj, None, opts)
        validate(res, obj)
        if res.kind == "Pod" and obj["metadata"].get("namespace") != "kube-system":
            _service_account_volume(obj)
        with self.lock:
            self._check_namespace(res, ns, "" if generated else meta["name"])
            if self.store.get(res.key, meta.get("namespace", ""), meta["name"]) is not None:
                raise already_exists(res, meta["name"])
            if res.group in GENERATION_GROUPS:
                meta["generation"] = 1
            self._allocate(res, obj, None)
            if res.kind == "Job":
                generate_job_selector(obj)
            if self.admission is not None:
                self.admission.validate(res, obj, None, opts)
            self._manage_create(res, obj, opts, internal)
            if opts.dry_run:
                meta.setdefault("uid", _uuid())
                meta["creationTimestamp"] = now_rfc3339()
                return obj
            out = self.store.create(res.key, obj)
        self.kick()
        return out

    def _manage_create(self, res: R.Resource, obj: Obj, opts: WriteOptions, internal: bool) -> None:
        """The first managedFields entry: an Apply (create by apply) or an Update."""
        if res.kind == "Event":
            return
        if opts.applied is not None:
            fieldmanager.store_apply(obj, opts.applied)
            return
        obj["metadata"].pop("managedFields", None)
        fieldmanager.update(
            res, None, obj, opts.manager("kube-apiserver" if internal else "unknown")
        )

    def _allocate(self, res: R.Resource, obj: Obj, old: Obj | None) -> None:
        if res.kind != "Service":
            return
        spec = obj["spec"]
        old_spec = (old or {}).get("spec") or {}
        if spec.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec.get("clusterIP") or self._free_cluster_ip()
        if spec["clusterIP"] != "None":
            spec["clusterIPs"] = [spec["clusterIP"]]
        else:
            spec["clusterIPs"] = ["None"]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or []}
            self._check_node_ports(obj, set(old_ports.values()))
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    port["nodePort"] = old_ports.get(port.get("port")) or self._free_node_port()
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)

    def _check_node_ports(self, svc: Obj, kept: set[Any]) -> None:
        """Reject requested node ports out of range or held by another service (portallocator)."""
        meta = svc.get("metadata") or {}
        used = {
            p.get("nodePort")
            for s in self.store.list(R.SERVICE.key)
            if (s["metadata"].get("namespace"), s["metadata"]["name"])
            != (meta.get("namespace"), meta.get("name"))
            for p in s["spec"].get("ports") or []
        }
        for i, port in enumerate(svc["spec"].get("ports") or []):
            num = port.get("nodePort")
            if not num or num in kept:
                continue
            if not NODEPORT_LOW <= num <= NODEPORT_HIGH:
                text = (
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{NODEPORT_LOW}-{NODEPORT_HIGH}"
                )
            elif num in used:
                text = "provided port is already allocated"
            else:
                continue
            field = f"spec.ports[{i}].nodePort"
            cause = (field, "FieldValueInvalid", f"Invalid value: {num}: {text}")
            raise invalid(R.SERVICE, meta.get("name") or "", [cause])

    def _free_cluster_ip(self) -> str:
        used = {s["spec"].get("clusterIP") for s in self.store.list(R.SERVICE.key)}
        while True:
            ip = str(SERVICE_NET[random.randint(2, SERVICE_NET.num_addresses - 2)])
            if ip not in used and ip != "10.96.0.10":
                return ip

    def _free_node_port(self) -> int:
        used = {
            p.get("nodePort")
            for s in self.store.list(R.SERVICE.key)
            for p in s["spec"].get("ports") or []
        }
        free = [n for n in range(NODEPORT_LOW + NODEPORT_BAND, NODEPORT_HIGH + 1) if n not in used]
        if not free:
            free = [n for n in range(NODEPORT_LOW, NODEPORT_HIGH + 1) if n not in used]
        return random.choice(free)

    # ---- update ------------------------------------------------------------------------
    def update(
        self,
        res: R.Resource,
        ns: str,
        name: str,
        obj: Obj,
        opts: WriteOptions | None = None,
        subresource: str = "",
        internal: bool = False,
    ) -> Obj:
        """PUT: optimistic concurrency on resourceVersion, generation on spec change."""
        opts = opts or WriteOptions()
        obj = self._checked_copy(res, obj, opts, internal)
        with self.lock:
            old = self.get(res, ns, name)
            meta = obj.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise bad_request("the name of the object does not match the name on the URL")
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return self._store_update(res, old, obj, opts, subresource)

    def _store_update(
        self, res: R.Resource, old: Obj, obj: Obj, opts: WriteOptions, subresource: str
    ) -> Obj:
        meta = obj.setdefault("metadata", {})
        old_meta = old["metadata"]
        for key in (
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = obj.get("status", {})
            obj = new
        elif (
            "status" in old
            and res.kind not in ("Namespace",)
            and "status" in R.preferred(res.group, res.plural).subresources
        ):
            obj["status"] = old["status"]
        apply_defaults(res, obj)
        if self.admission is not None:
            self.admission.mutate(res, obj, old, opts)
        validate(res, obj)
        if res.group in GENERATION_GROUPS and _spec_of(obj) != _spec_of(old):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        self._allocate(res, obj, old)
        if "managedFields" not in meta and old_meta.get("managedFields"):
            meta["managedFields"] = old_meta["managedFields"]  # kept when a client omits them
        if obj == old:
            return old
        if self.admission is not None:
            self.admission.validate(res, obj, old, opts, subresource)
        self._manage_update(res, old, obj, opts, subresource)
        if opts.dry_run:
            return obj
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            out = self.store.remove(res.key, meta.get("namespace", ""), meta["name"])
            self.kick()
            return out or obj
        out = self.store.put(res.key, obj)
        self.kick()
        return out

    def _manage_update(
        self, res: R.Resource, old: Obj, obj: Obj, opts: WriteOptions, subresource: str
    ) -> None:
        if res.kind == "Event":
            return
        if opts.applied is not None:
            fieldmanager.store_apply(obj, opts.applied)
            return
        fieldmanager.update(res, old, obj, opts.manager(), subresource)

    # ---- patch -------------------------------------------------------------------------
    def patch(
        self,
        res: R.Resource,
        ns: str,
        name: str,
        body: bytes,
        ctype: str,
        opts: WriteOptions | None = None,
        subresource: str = "",
    ) -> Obj:
        """PATCH with json, merge, strategic-merge or apply (server-side apply) bodies."""
        opts = opts or WriteOptions()
        ctype = ctype.split(";")[0].strip()
        patch_doc = _decode_patch(body, ctype)
        if ctype == "application/apply-patch+yaml" and isinstance(patch_doc, dict):
            _check_apply_types(res, ns, name, patch_doc)
        if ctype == "application/apply-patch+yaml" and not opts.field_manager:
            # ValidatePatchOptions: "defaulted to kubectl by kubectl, but HAS TO be set"
            cause = (
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch",
            )
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "name": "",
                    "causes": [{"reason": cause[1], "message": cause[2], "field": cause[0]}],
                },
            )
        with self.lock:
            try:
                old = self.get(res, ns, name)
            except ApiError:
                if ctype == "application/apply-patch+yaml":
                    if not isinstance(patch_doc, dict):
                        raise bad_request("invalid apply patch") from None
                    _, opts.applied = fieldmanager.apply(
                        res, None, patch_doc, opts.field_manager, opts.force
                    )
                    return self.create(res, ns, patch_doc, opts)
                raise
            current = old
            if ctype == "application/json-patch+json":
                new = json_patch(current, patch_doc)
            elif ctype == "application/merge-patch+json":
                new = merge_patch(current, patch_doc)
            elif ctype in (
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ):
                if ctype == "application/apply-patch+yaml" and not isinstance(patch_doc, dict):
                    raise bad_request("invalid apply patch")
                if ctype == "application/apply-patch+yaml":
                    new = self._apply(res, current, patch_doc, opts)
                else:
                    new = strategic_merge(current, _patch_map(patch_doc))
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted "
                    "media types include: application/json-patch+json, "
                    "application/merge-patch+json, "
                    "application/apply-patch+yaml, "
                    "application/strategic-merge-patch+json",
                    {},
                )
            if not isinstance(new, dict):
                raise bad_request("patch result is not an object")
            _check_patched_types(res, ctype, patch_doc, new)
            self._check_fields(res, new, opts)
            pv = (
                (patch_doc.get("metadata") or {}).get("resourceVersion")
                if isinstance(patch_doc, dict)
                else None
            )
            if pv and pv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return self._store_update(res, old, new, opts, subresource)

    def _apply(self, res: R.Resource, live: Obj, config: Obj, opts: WriteOptions) -> Obj:
        """Server-side apply: the merged object; its managers go with the options."""
        try:
            merged, opts.applied = fieldmanager.apply(
                res, live, config, opts.field_manager, opts.force
            )
        except fieldmanager.ApplyConflict as exc:
            raise ApiError(409, "Conflict", exc.message(), {"causes": exc.causes()}) from exc
        merged["metadata"]["managedFields"] = live["metadata"].get("managedFields")
        if merged["metadata"]["managedFields"] is None:
            merged["metadata"].pop("managedFields")
        return merged

    # ---- scale -------------------------------------------------------------------------
    def get_scale(self, res: R.Resource, ns: str, name: str) -> Obj:
        """The autoscaling/v1 Scale of a deployment or replica set."""
        obj = self.get(res, ns, name)
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_string(obj["spec"].get("selector")),
            },
        }

    def set_scale(self, res: R.Resource, ns: str, name: str, scale: Obj, opts: WriteOptions) -> Obj:
        """Apply a Scale's spec.replicas to the owner."""
        with self.lock:
            obj = self.get(res, ns, name)
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            obj["spec"]["replicas"] = int((scale.get("spec") or {}).get("replicas", 0))
            self._store_update(res, self.get(res, ns, name), obj, opts, "scale")
            return self.get_scale(res, ns, name)

    # ---- delete ------------------------------------------------------------------------
    def delete(
        self, res: R.Resource, ns: str, name: str, body: Obj, opts: WriteOptions | None = None
    ) -> Obj:
        """DELETE with propagationPolicy and gracePeriodSeconds."""
        opts = opts or WriteOptions()
        with self.lock:
            obj = self.get(res, ns, name)
            meta = obj["metadata"]
            pre = body.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise conflict(res, name)
            policy = body.get("propagationPolicy")
            if policy is None and body.get("orphanDependents") is True:
                policy = "Orphan"
            # kubectl delete --dry-run=server sends DeleteOptions{dryRun: [All]} in the body
            if opts.dry_run or "All" in (body.get("dryRun") or []):
                return obj
            if res.kind == "Namespace":
                return self._delete_namespace(obj)
            if meta.get("deletionTimestamp"):
                if res.kind == "Pod" and body.get("gracePeriodSeconds") == 0:
                    return self._remove(res, obj)
                return obj
            if policy == "Orphan":
                self._orphan(meta["uid"])
            grace = self._grace(res, obj, body)
            finalizers = list(meta.get("finalizers") or [])
            if policy == "Foreground" and self._has_dependents(meta["uid"]):
                finalizers.append("foregroundDeletion")
            if grace or finalizers:
                meta["deletionTimestamp"] = _rfc3339_in(grace or 0)
                meta["deletionGracePeriodSeconds"] = grace or 0
                meta["finalizers"] = finalizers or meta.get("finalizers")
                if not meta["finalizers"]:
                    meta.pop("finalizers")
                out = self.store.put(res.key, obj)
                self.kick()
                return out
            return self._remove(res, obj)

    def _grace(self, res: R.Resource, obj: Obj, body: Obj) -> int:
        if res.kind != "Pod" or not obj["spec"].get("nodeName"):
            return 0
        if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = body.get("gracePeriodSeconds")
        if grace is None:
            grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
        return max(int(grace), 0)

    def _remove(self, res: R.Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        self.store.remove(res.key, meta.get("namespace", ""), meta["name"])
        self.kick()
        details: Obj = {"name": meta["name"]}
        if res.group:
            details["group"] = res.group
        details.update(kind=res.plural, uid=meta["uid"])
        if res.kind == "Pod":
            return obj
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def remove_now(self, res: R.Resource, ns: str, name: str) -> None:
        """Remove an object immediately (controllers: finished graceful deletion)."""
        with self.lock:
            if self.store.remove(res.key, ns, name) is not None:
                self.kick()

    def _delete_namespace(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now_rfc3339()
            obj["status"]["phase"] = "Terminating"
            obj = self.store.put(R.NAMESPACE.key, obj)
            self.kick()
        return obj

    def dependents(self, uid: str) -> builtins.list[tuple[R.Resource, Obj]]:
        """Objects with an ownerReference to `uid`."""
        out = []
        for key in self.store.all_keys():
            res = R.preferred(*key)
            for obj in self.store.list(key):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    out.append((res, obj))
        return out

    def _has_dependents(self, uid: str) -> bool:
        return bool(self.dependents(uid))

    def _orphan(self, uid: str) -> None:
        for res, obj in self.dependents(uid):
            refs = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid]
            obj["metadata"]["ownerReferences"] = refs
            if not refs:
                obj["metadata"].pop("ownerReferences")
            self.store.put(res.key, obj)

    # ---- events ------------------------------------------------------------------------
    def record_event(
        self,
        involved: Obj,
        etype: str,
        reason: str,
        message: str,
        component: str,
        field_path: str = "",
        host: str = "",
    ) -> None:
        """Record a v1 Event, folding repeats into `count` like the event recorder."""
        meta = involved["metadata"]
        ns = meta.get("namespace") or "default"
        inv: Obj = {
            "kind": involved.get("kind"),
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid"),
            "apiVersion": involved.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if not inv["namespace"]:
            inv.pop("namespace")
        if field_path:
            inv["fieldPath"] = field_path
        now = now_rfc3339()
        with self.lock:
            for stored in self.store.scan(R.EVENT.key, ns):
                same = (
                    stored.get("involvedObject", {}).get("uid") == inv["uid"]
                    and stored.get("reason") == reason
                    and stored.get("message") == message
                )
                if same:
                    ev = copy_of(stored)
                    ev["count"] = int(ev.get("count", 1)) + 1
                    ev["lastTimestamp"] = now
                    self.store.put(R.EVENT.key, ev)
                    return
            source: Obj = {"component": component}
            if host:
                source["host"] = host
            ev = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{_event_suffix()}", "namespace": ns},
                "involvedObject": inv,
                "reason": reason,
                "message": message,
                "source": source,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": etype,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host,
            }
            self.store.create(R.EVENT.key, ev)


def _service_account_volume(pod: Obj) -> None:
    """The ServiceAccount admission plugin: a projected token volume in every container."""
    spec = pod["spec"]
    if spec.get("automountServiceAccountToken") is False:
        return
    mount_path = "/var/run/secrets/kubernetes.io/serviceaccount"
    containers = spec.get("containers") or []
    if any(
        m.get("mountPath") == mount_path for c in containers for m in c.get("volumeMounts") or []
    ):
        return
    name = f"kube-api-access-{random_suffix()}"
    spec.setdefault("volumes", []).append(
        {
            "name": name,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
                "defaultMode": 420,
            },
        }
    )
    for c in containers + (spec.get("initContainers") or []):
        c.setdefault("volumeMounts", []).append(
            {"name": name, "readOnly": True, "mountPath": mount_path}
        )


def component_statuses() -> list[Obj]:
    """The computed (never stored) componentstatuses of a healthy control plane."""
    return [
        {
            "kind": "ComponentStatus",
            "apiVersion": "v1",
            "metadata": {"name": name, "creationTimestamp": None},
            "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}],
        }
        for name in ("controller-manager", "scheduler", "etcd-0")
    ]


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _event_suffix() -> str:
    return format(int(datetime.now(UTC).timestamp() * 1e9) + random.randint(0, 999), "x")


def _rfc3339_in(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_apply_types(res: R.Resource, ns: str, name: str, patch_doc: Obj) -> None:
    """Server-side apply: structured-merge-diff's typed conversion (an error without a reason)."""
    errs = smd_errors(res.kind, patch_doc)
    if not errs:
        return
    text = errs[0] if len(errs) == 1 else "\n".join(["errors:", *(f"  {e}" for e in errs)])
    group = res.group + "/" if res.group else "/"
    where = f"{ns}/{name}; {group}{res.version}, Kind={res.kind}"
    raise ApiError(500, "", f"failed to create typed patch object ({where}): {text}")


def _check_patched_types(res: R.Resource, ctype: str, patch_doc: Any, new: Obj) -> None:
    """A patched object that does not decode is 422 Invalid on the field "patch" (patch.go)."""
    if ctype == "application/apply-patch+yaml":
        return
    if ctype == "application/strategic-merge-patch+json":
        err, value = converter_error(res.kind, new), go_value(patch_doc)
    else:
        err, value = json_error(res.kind, new), json.dumps(new, separators=(",", ":"))
    if err is None:
        return
    body = f"Invalid value: {_go_quote(value)}: {err}"
    raise ApiError(
        422,
        "Invalid",
        f' "" is invalid: patch: {body}',
        {"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]},
    )


def _go_quote(text: str) -> str:
    """Go's %q of a string (strconv.Quote) for printable text."""
    return json.dumps(text, ensure_ascii=False)


def _patch_map(doc: Any) -> Any:
    """strategicPatchObject unmarshals the patch into a map first (handlers/patch.go): a
    document that is not an object is that decoder's BadRequest; `null` is an empty map."""
    if doc is None:
        return {}
    if isinstance(doc, dict):
        return doc
    kind = {str: "string", bool: "bool", list: "array"}.get(type(doc), "number")
    raise bad_request(
        f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    )


def _decode_patch(body: bytes, ctype: str) -> Any:
    try:
        if ctype == "application/apply-patch+yaml":
            import yaml

            return yaml.safe_load(body.decode())
        return json.loads(body.decode() or "null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc
    except Exception as exc:
        raise bad_request(f"error decoding YAML: {exc}") from exc


__all__ = ["Api", "WriteOptions", "now_micro"]
