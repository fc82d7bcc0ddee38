"""The resource registry of the fake API server: what discovery advertises and routing accepts."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One API resource (a kind served at group/version/plural)."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    list_kind: str = field(default="")

    @property
    def api_version(self) -> str:
        """apiVersion string of objects of this resource."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`plural.group` as used in error messages (`deployments.apps`)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: (group, plural); versions of the same group share storage."""
        return (self.group, self.plural)


def _r(group: str, version: str, kind: str, plural: str, **kw: object) -> Resource:
    return Resource(group, version, kind, plural, kind.lower(), **kw)  # type: ignore[arg-type]


POD_SUB = (
    "attach",
    "binding",
    "ephemeralcontainers",
    "eviction",
    "exec",
    "log",
    "portforward",
    "proxy",
    "status",
)

RESOURCES: tuple[Resource, ...] = (
    _r("", "v1", "Binding", "bindings", verbs=("create",)),
    _r(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        namespaced=False,
        short_names=("cs",),
        verbs=("get", "list"),
    ),
    _r("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _r("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    _r("", "v1", "Event", "events", short_names=("ev",)),
    _r("", "v1", "LimitRange", "limitranges", short_names=("limits",)),
    _r(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        verbs=NO_COLLECTION_DELETE,
        subresources=("finalize", "status"),
    ),
    _r(
        "",
        "v1",
        "Node",
        "nodes",
        namespaced=False,
        short_names=("no",),
        subresources=("proxy", "status"),
    ),
    _r(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        subresources=("status",),
    ),
    _r(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        namespaced=False,
        short_names=("pv",),
        subresources=("status",),
    ),
    _r("", "v1", "Pod", "pods", short_names=("po",), categories=("all",), subresources=POD_SUB),
    _r("", "v1", "PodTemplate", "podtemplates"),
    _r(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        short_names=("rc",),
        categories=("all",),
        subresources=("scale", "status"),
    ),
    _r(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        short_names=("quota",),
        subresources=("status",),
    ),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",), subresources=("token",)),
    _r(
        "",
        "v1",
        "Service",
        "services",
        short_names=("svc",),
        categories=("all",),
        verbs=NO_COLLECTION_DELETE,
        subresources=("proxy", "status"),
    ),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _r(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        short_names=("ds",),
        categories=("all",),
        subresources=("status",),
    ),
    _r(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        categories=("all",),
        subresources=("scale", "status"),
    ),
    _r(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        categories=("all",),
        subresources=("scale", "status"),
    ),
    _r(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        categories=("all",),
        subresources=("scale", "status"),
    ),
    _r("batch", "v1", "Job", "jobs", categories=("all",), subresources=("status",)),
    _r(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        short_names=("cj",),
        categories=("all",),
        subresources=("status",),
    ),
    _r(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        categories=("all",),
        subresources=("status",),
    ),
    _r(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        categories=("all",),
        subresources=("status",),
    ),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _r("events.k8s.io", "v1", "Event", "events", short_names=("ev",)),
    _r(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        short_names=("ing",),
        subresources=("status",),
    ),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    _r(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        subresources=("status",),
    ),
    _r(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
    ),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        namespaced=False,
        short_names=("sc",),
    ),
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    _r(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _r(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _r(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _r(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _r(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _r(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        verbs=("create",),
    ),
    _r(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        namespaced=False,
        short_names=("pc",),
    ),
    # the rest of what a default v1.32 server serves (pkg/controlplane/instance.go; the kinds of
    # each group/version from its OpenAPI; short names and categories from each registry's
    # ShortNames()/Categories()); stored and listed like any other kind, with no controller
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        namespaced=False,
        categories=("api-extensions",),
        subresources=("status",),
    ),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=("status",),
    ),
    _r(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        namespaced=False,
        categories=("api-extensions",),
        subresources=("status",),
    ),
    _r(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        namespaced=False,
        short_names=("csr",),
        subresources=("approval", "status"),
    ),
    _r(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        "flowschemas",
        namespaced=False,
        subresources=("status",),
    ),
    _r(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        namespaced=False,
        subresources=("status",),
    ),
    _r("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", namespaced=False),
    _r("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
    _r("storage.k8s.io", "v1", "CSINode", "csinodes", namespaced=False),
    _r("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities"),
    _r(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        namespaced=False,
        subresources=("status",),
    ),
)

# Preferred version first: the first entry for a group wins in /apis.
GROUP_VERSIONS: dict[str, list[str]] = {}
for _res in RESOURCES:
    GROUP_VERSIONS.setdefault(_res.group, [])
    if _res.version not in GROUP_VERSIONS[_res.group]:
        GROUP_VERSIONS[_res.group].append(_res.version)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """Find the resource served at `/apis/group/version/plural`."""
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    """Find the resource for an object's apiVersion and kind."""
    group, _, version = api_version.rpartition("/")
    return _BY_KIND.get((group, version, kind))


def resources_in(group: str, version: str) -> list[Resource]:
    """All resources of one group/version, in discovery order."""
    return [r for r in RESOURCES if r.group == group and r.version == version]


def preferred(group: str, plural: str) -> Resource:
    """The storage (preferred) version of a (group, plural)."""
    for res in RESOURCES:
        if res.group == group and res.plural == plural:
            return res
    raise KeyError((group, plural))


POD = preferred("", "pods")
NAMESPACE = preferred("", "namespaces")
NODE = preferred("", "nodes")
SERVICE = preferred("", "services")
ENDPOINTS = preferred("", "endpoints")
EVENT = preferred("", "events")
CONFIGMAP = preferred("", "configmaps")
SECRET = preferred("", "secrets")
SERVICEACCOUNT = preferred("", "serviceaccounts")
DEPLOYMENT = preferred("apps", "deployments")
REPLICASET = preferred("apps", "replicasets")
ENDPOINTSLICE = preferred("discovery.k8s.io", "endpointslices")
