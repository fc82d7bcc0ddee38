"""The RBAC objects a fresh minikube cluster (kube-apiserver v1.32 + kubeadm + addons) has.

The roles and bindings of `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`,
`controller_policy.go` and `namespace_policy.go` (their golden files
`bootstrappolicy/testdata/{cluster-roles,controller-roles,cluster-role-bindings,...}.yaml`, with
default feature gates: alpha/beta-off controllers of v1.32 left out), then what kubeadm and
minikube add (`kubeadm:*`, `system:coredns`, `minikube-rbac`, the storage-provisioner's).

Rules are written `R(verbs, groups, resources, names)`, each a space-separated list; the core
group is spelled `core`. Lists are sorted, as `rbacv1helpers.NewRule(...).RuleOrDie()` sorts them.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
BOOT_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

RW = "create delete deletecollection get list patch update watch"
READ = "get list watch"
WRITE = "create delete deletecollection patch update"
EVENTS = "create patch update"


def R(verbs: str, groups: str, resources: str, names: str = "") -> Obj:
    """One resource rule."""
    rule: Obj = {
        "verbs": verbs.split(),
        "apiGroups": ["" if g == "core" else g for g in groups.split()],
        "resources": resources.split(),
    }
    if names:
        rule["resourceNames"] = names.split()
    return rule


def U(verbs: str, urls: str) -> Obj:
    """One non-resource rule."""
    return {"verbs": verbs.split(), "nonResourceURLs": urls.split()}


def _events() -> Obj:
    return R(EVENTS, "core events.k8s.io", "events")


# ---- cluster roles (policy.go) --------------------------------------------------------------
AGGREGATE_TO_ADMIN = [
    R("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    R(RW, RBAC, "rolebindings roles"),
]
AGGREGATE_TO_EDIT = [
    R(READ, "core", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
    R("impersonate", "core", "serviceaccounts"),
    R(WRITE, "core", "pods pods/attach pods/exec pods/portforward pods/proxy"),
    R("create", "core", "pods/eviction"),
    R(
        WRITE,
        "core",
        "configmaps events persistentvolumeclaims replicationcontrollers "
        "replicationcontrollers/scale secrets serviceaccounts services services/proxy",
    ),
    R("create", "core", "serviceaccounts/token"),
    R(
        WRITE,
        "apps",
        "daemonsets deployments deployments/rollback deployments/scale replicasets "
        "replicasets/scale statefulsets statefulsets/scale",
    ),
    R(WRITE, "autoscaling", "horizontalpodautoscalers"),
    R(WRITE, "batch", "cronjobs jobs"),
    R(
        WRITE,
        "extensions",
        "daemonsets deployments deployments/rollback deployments/scale ingresses "
        "networkpolicies replicasets replicasets/scale replicationcontrollers/scale",
    ),
    R(WRITE, "policy", "poddisruptionbudgets"),
    R(WRITE, "networking.k8s.io", "ingresses networkpolicies"),
    R(RW, "coordination.k8s.io", "leases"),
]
AGGREGATE_TO_VIEW = [
    R(
        READ,
        "core",
        "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
        "replicationcontrollers replicationcontrollers/scale serviceaccounts services "
        "services/status",
    ),
    R(
        READ,
        "core",
        "bindings events limitranges namespaces/status pods/log pods/status "
        "replicationcontrollers/status resourcequotas resourcequotas/status",
    ),
    R(READ, "core", "namespaces"),
    R(READ, "discovery.k8s.io", "endpointslices"),
    R(
        READ,
        "apps",
        "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
        "deployments/status replicasets replicasets/scale replicasets/status statefulsets "
        "statefulsets/scale statefulsets/status",
    ),
    R(READ, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
    R(READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
    R(
        READ,
        "extensions",
        "daemonsets daemonsets/status deployments deployments/scale deployments/status "
        "ingresses ingresses/status networkpolicies replicasets replicasets/scale "
        "replicasets/status replicationcontrollers/scale",
    ),
    R(READ, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
    R(READ, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
]

# name -> (rules, extra labels, aggregated-from label or "")
CLUSTER_ROLES: dict[str, tuple[list[Obj], dict[str, str], str]] = {
    "admin": ([], {}, "rbac.authorization.k8s.io/aggregate-to-admin"),
    "cluster-admin": ([R("*", "*", "*"), U("*", "*")], {}, ""),
    "edit": (
        [],
        {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        "rbac.authorization.k8s.io/aggregate-to-edit",
    ),
    "system:aggregate-to-admin": (
        AGGREGATE_TO_ADMIN,
        {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        "",
    ),
    "system:aggregate-to-edit": (
        AGGREGATE_TO_EDIT,
        {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        "",
    ),
    "system:aggregate-to-view": (
        AGGREGATE_TO_VIEW,
        {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        "",
    ),
    "system:auth-delegator": (
        [
            R("create", "authentication.k8s.io", "tokenreviews"),
            R("create", "authorization.k8s.io", "subjectaccessreviews"),
        ],
        {},
        "",
    ),
    "system:basic-user": (
        [
            R("create", "authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews"),
            R("create", "authentication.k8s.io", "selfsubjectreviews"),
        ],
        {},
        "",
    ),
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": (
        [R("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient")],
        {},
        "",
    ),
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": (
        [R("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")],
        {},
        "",
    ),
    "system:certificates.k8s.io:kube-apiserver-client-approver": (
        [R("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client")],
        {},
        "",
    ),
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver": (
        [
            R(
                "approve",
                "certificates.k8s.io",
                "signers",
                "kubernetes.io/kube-apiserver-client-kubelet",
            )
        ],
        {},
        "",
    ),
    "system:certificates.k8s.io:kubelet-serving-approver": (
        [R("approve", "certificates.k8s.io", "signers", "kubernetes.io/kubelet-serving")],
        {},
        "",
    ),
    "system:certificates.k8s.io:legacy-unknown-approver": (
        [R("approve", "certificates.k8s.io", "signers", "kubernetes.io/legacy-unknown")],
        {},
        "",
    ),
    "system:discovery": (
        [
            U(
                "get",
                "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz "
                "/version /version/",
            )
        ],
        {},
        "",
    ),
    "system:heapster": (
        [
            R(READ, "core", "events namespaces nodes pods"),
            R(READ, "extensions", "deployments"),
        ],
        {},
        "",
    ),
    "system:kube-aggregator": ([R(READ, "core", "endpoints services")], {}, ""),
    "system:kube-controller-manager": (
        [
            _events(),
            R("create", "coordination.k8s.io", "leases"),
            R("get update", "coordination.k8s.io", "leases", "kube-controller-manager"),
            R("create", "core", "secrets serviceaccounts"),
            R("delete", "core", "secrets"),
            R("get", "core", "configmaps namespaces secrets serviceaccounts"),
            R("update", "core", "secrets serviceaccounts"),
            R("create", "authentication.k8s.io", "tokenreviews"),
            R("create", "authorization.k8s.io", "subjectaccessreviews"),
            R("list watch", "*", "*"),
            R("create", "core", "serviceaccounts/token"),
        ],
        {},
        "",
    ),
    "system:kube-dns": ([R("list watch", "core", "endpoints services")], {}, ""),
    "system:kube-scheduler": (
        [
            _events(),
            R("create", "coordination.k8s.io", "leases"),
            R("get update", "coordination.k8s.io", "leases", "kube-scheduler"),
            R(READ, "core", "nodes"),
            R("delete get list watch", "core", "pods"),
            R("create", "core", "bindings pods/binding"),
            R("patch update", "core", "pods/status"),
            R(READ, "core", "replicationcontrollers services"),
            R(READ, "apps extensions", "replicasets"),
            R(READ, "apps", "statefulsets"),
            R(READ, "policy", "poddisruptionbudgets"),
            R(READ, "core", "persistentvolumeclaims persistentvolumes"),
            R("create", "authentication.k8s.io", "tokenreviews"),
            R("create", "authorization.k8s.io", "subjectaccessreviews"),
            R(READ, "storage.k8s.io", "csinodes"),
            R(READ, "core", "namespaces"),
            R(READ, "storage.k8s.io", "csidrivers"),
            R(READ, "storage.k8s.io", "csistoragecapacities"),
        ],
        {},
        "",
    ),
    "system:kubelet-api-admin": (
        [
            R(READ, "core", "nodes"),
            R("proxy", "core", "nodes"),
            R("*", "core", "nodes/log nodes/metrics nodes/proxy nodes/stats"),
        ],
        {},
        "",
    ),
    "system:monitoring": (
        [
            U(
                "get",
                "/healthz /healthz/* /livez /livez/* /metrics /metrics/slis /readyz /readyz/*",
            )
        ],
        {},
        "",
    ),
    "system:node": (
        [
            R("create", "authentication.k8s.io", "tokenreviews"),
            R("create", "authorization.k8s.io", "localsubjectaccessreviews subjectaccessreviews"),
            R(READ, "core", "services"),
            R("create get list watch", "core", "nodes"),
            R("patch update", "core", "nodes/status"),
            R("patch update", "core", "nodes"),
            R(EVENTS, "core", "events"),
            R(READ, "core", "pods"),
            R("create delete", "core", "pods"),
            R("patch update", "core", "pods/status"),
            R("create", "core", "pods/eviction"),
            R(READ, "core", "configmaps secrets"),
            R("get", "core", "persistentvolumeclaims persistentvolumes"),
            R("get", "core", "endpoints"),
            R("create get list watch", "certificates.k8s.io", "certificatesigningrequests"),
            R("create delete get patch update", "coordination.k8s.io", "leases"),
            R("get", "storage.k8s.io", "volumeattachments"),
            R("create", "core", "serviceaccounts/token"),
            R("get patch update", "core", "persistentvolumeclaims/status"),
            R(READ, "storage.k8s.io", "csidrivers"),
            R("create delete get patch update", "storage.k8s.io", "csinodes"),
            R(READ, "node.k8s.io", "runtimeclasses"),
        ],
        {},
        "",
    ),
    "system:node-bootstrapper": (
        [R("create get list watch", "certificates.k8s.io", "certificatesigningrequests")],
        {},
        "",
    ),
    "system:node-problem-detector": (
        [R("get", "core", "nodes"), R("patch", "core", "nodes/status"), _events()],
        {},
        "",
    ),
    "system:node-proxier": (
        [
            R("list watch", "core", "endpoints services"),
            R(READ, "core", "nodes"),
            _events(),
            R("list watch", "discovery.k8s.io", "endpointslices"),
        ],
        {},
        "",
    ),
    "system:persistent-volume-provisioner": (
        [
            R("create delete get list watch", "core", "persistentvolumes"),
            R("get list update watch", "core", "persistentvolumeclaims"),
            R(READ, "storage.k8s.io", "storageclasses"),
            R("watch", "core", "events"),
            _events(),
        ],
        {},
        "",
    ),
    "system:public-info-viewer": (
        [U("get", "/healthz /livez /readyz /version /version/")],
        {},
        "",
    ),
    "system:service-account-issuer-discovery": (
        [U("get", "/.well-known/openid-configuration /openid/v1/jwks")],
        {},
        "",
    ),
    "system:volume-scheduler": (
        [
            R("get list patch update watch", "core", "persistentvolumes"),
            R(READ, "storage.k8s.io", "storageclasses"),
            R("get list patch update watch", "core", "persistentvolumeclaims"),
        ],
        {},
        "",
    ),
    "view": (
        [],
        {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        "rbac.authorization.k8s.io/aggregate-to-view",
    ),
}

# (role, subjects) with subjects as "Kind:name" or "ServiceAccount:ns/name"
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[str]]] = {
    "cluster-admin": ("cluster-admin", ["Group:system:masters"]),
    "system:basic-user": ("system:basic-user", ["Group:system:authenticated"]),
    "system:discovery": ("system:discovery", ["Group:system:authenticated"]),
    "system:kube-controller-manager": (
        "system:kube-controller-manager",
        ["User:system:kube-controller-manager"],
    ),
    "system:kube-dns": ("system:kube-dns", ["ServiceAccount:kube-system/kube-dns"]),
    "system:kube-scheduler": ("system:kube-scheduler", ["User:system:kube-scheduler"]),
    "system:monitoring": ("system:monitoring", ["Group:system:monitoring"]),
    "system:node": ("system:node", []),
    "system:node-proxier": ("system:node-proxier", ["User:system:kube-proxy"]),
    "system:public-info-viewer": (
        "system:public-info-viewer",
        ["Group:system:authenticated", "Group:system:unauthenticated"],
    ),
    "system:service-account-issuer-discovery": (
        "system:service-account-issuer-discovery",
        ["Group:system:serviceaccounts"],
    ),
    "system:volume-scheduler": ("system:volume-scheduler", ["User:system:kube-scheduler"]),
}

# ---- controller roles (controller_policy.go), bound to kube-system ServiceAccounts ----------
CONTROLLER_ROLES: dict[str, list[Obj]] = {
    "attachdetach-controller": [
        R("list watch", "core", "persistentvolumeclaims persistentvolumes"),
        R(READ, "core", "nodes"),
        R("patch update", "core", "nodes/status"),
        R("list watch", "core", "pods"),
        _events(),
        R("create delete get list watch", "storage.k8s.io", "volumeattachments"),
        R(READ, "storage.k8s.io", "csidrivers"),
        R(READ, "storage.k8s.io", "csinodes"),
    ],
    "certificate-controller": [
        R("delete get list watch", "certificates.k8s.io", "certificatesigningrequests"),
        R(
            "update",
            "certificates.k8s.io",
            "certificatesigningrequests/approval certificatesigningrequests/status",
        ),
        R(
            "approve",
            "certificates.k8s.io",
            "signers",
            "kubernetes.io/kube-apiserver-client-kubelet",
        ),
        R(
            "sign",
            "certificates.k8s.io",
            "signers",
            "kubernetes.io/kube-apiserver-client kubernetes.io/kube-apiserver-client-kubelet "
            "kubernetes.io/kubelet-serving kubernetes.io/legacy-unknown",
        ),
        R("create", "authorization.k8s.io", "subjectaccessreviews"),
        _events(),
    ],
    "clusterrole-aggregation-controller": [
        R("escalate get list patch update watch", RBAC, "clusterroles"),
    ],
    "cronjob-controller": [
        R("get list update watch", "batch", "cronjobs"),
        R("create delete get list patch update watch", "batch", "jobs"),
        R("update", "batch", "cronjobs/status"),
        R("update", "batch", "cronjobs/finalizers"),
        R("delete list watch", "core", "pods"),
        _events(),
    ],
    "daemon-set-controller": [
        R(READ, "apps extensions", "daemonsets"),
        R("update", "apps extensions", "daemonsets/status"),
        R("update", "apps extensions", "daemonsets/finalizers"),
        R("list watch", "core", "nodes"),
        R("create delete list patch watch", "core", "pods"),
        R("create", "core", "pods/binding"),
        R("create delete get list patch update watch", "apps", "controllerrevisions"),
        _events(),
    ],
    "deployment-controller": [
        R("get list update watch", "apps extensions", "deployments"),
        R("update", "apps extensions", "deployments/status"),
        R("update", "apps extensions", "deployments/finalizers"),
        R("create delete get list patch update watch", "apps extensions", "replicasets"),
        R("get list update watch", "core", "pods"),
        _events(),
    ],
    "disruption-controller": [
        R(READ, "apps extensions", "deployments"),
        R(READ, "apps extensions", "replicasets"),
        R(READ, "core", "replicationcontrollers"),
        R(READ, "policy", "poddisruptionbudgets"),
        R(READ, "apps", "statefulsets"),
        R("update", "policy", "poddisruptionbudgets/status"),
        R("patch update", "core", "pods/status"),
        R("get", "*", "*/scale"),
        _events(),
    ],
    "endpoint-controller": [
        R(READ, "core", "pods services"),
        R("create delete get list update watch", "core", "endpoints"),
        R("create", "core", "endpoints/restricted"),
        _events(),
    ],
    "endpointslice-controller": [
        R(READ, "core", "nodes pods services"),
        R("update", "core", "services/finalizers"),
        R("create delete get list update watch", "discovery.k8s.io", "endpointslices"),
        _events(),
    ],
    "endpointslicemirroring-controller": [
        R(READ, "core", "endpoints services"),
        R("update", "core", "services/finalizers"),
        R("update", "core", "endpoints/finalizers"),
        R("create delete get list update watch", "discovery.k8s.io", "endpointslices"),
        _events(),
    ],
    "ephemeral-volume-controller": [
        R(READ, "core", "pods"),
        R("update", "core", "pods/finalizers"),
        R("create get list watch", "core", "persistentvolumeclaims"),
        _events(),
    ],
    "expand-controller": [
        R("get list patch update watch", "core", "persistentvolumes"),
        R("patch update", "core", "persistentvolumeclaims/status"),
        R(READ, "core", "persistentvolumeclaims"),
        _events(),
    ],
    "generic-garbage-collector": [
        R("delete get list patch update watch", "*", "*"),
        _events(),
    ],
    "horizontal-pod-autoscaler": [
        R(READ, "autoscaling", "horizontalpodautoscalers"),
        R("update", "autoscaling", "horizontalpodautoscalers/status"),
        R("get update", "*", "*/scale"),
        R("list watch", "core", "pods"),
        R("list watch", "metrics.k8s.io", "pods"),
        R(READ, "custom.metrics.k8s.io", "*"),
        R(READ, "external.metrics.k8s.io", "*"),
        _events(),
    ],
    "job-controller": [
        R("get list patch update watch", "batch", "jobs"),
        R("update", "batch", "jobs/status"),
        R("update", "batch", "jobs/finalizers"),
        R("create delete list patch watch", "core", "pods"),
        _events(),
    ],
    "legacy-service-account-token-cleaner": [
        R("get", "core", "configmaps", "kube-apiserver-legacy-service-account-token-tracking"),
        R("delete patch", "core", "secrets"),
    ],
    "namespace-controller": [
        R("delete get list watch", "core", "namespaces"),
        R("update", "core", "namespaces/finalize namespaces/status"),
        R("delete deletecollection get list watch", "*", "*"),
    ],
    "node-controller": [
        R("delete get list patch update watch", "core", "nodes"),
        R("patch update", "core", "nodes/status"),
        R("patch update", "core", "pods/status"),
        R("delete get list watch", "core", "pods"),
        _events(),
    ],
    "persistent-volume-binder": [
        R("create delete get list update watch", "core", "persistentvolumes"),
        R("update", "core", "persistentvolumes/status"),
        R("get list update watch", "core", "persistentvolumeclaims"),
        R("update", "core", "persistentvolumeclaims/status"),
        R("create delete get list watch", "core", "pods"),
        R(READ, "storage.k8s.io", "storageclasses"),
        R("list watch", "core", "nodes"),
        _events(),
        R("watch", "core", "events"),
    ],
    "pod-garbage-collector": [
        R("delete list watch", "core", "pods"),
        R(READ, "core", "nodes"),
        R("patch", "core", "pods/status"),
    ],
    "pv-protection-controller": [
        R("get list update watch", "core", "persistentvolumes"),
        _events(),
    ],
    "pvc-protection-controller": [
        R("get list update watch", "core", "persistentvolumeclaims"),
        R("update", "core", "persistentvolumeclaims/status"),
        R(READ, "core", "pods"),
        _events(),
    ],
    "replicaset-controller": [
        R("get list update watch", "apps extensions", "replicasets"),
        R("update", "apps extensions", "replicasets/status"),
        R("update", "apps extensions", "replicasets/finalizers"),
        R("create delete list patch watch", "core", "pods"),
        _events(),
    ],
    "replication-controller": [
        R("get list update watch", "core", "replicationcontrollers"),
        R("update", "core", "replicationcontrollers/status"),
        R("update", "core", "replicationcontrollers/finalizers"),
        R("create delete list patch watch", "core", "pods"),
        _events(),
    ],
    "resourcequota-controller": [
        R("list watch", "*", "*"),
        R("update", "core", "resourcequotas/status"),
        _events(),
    ],
    "root-ca-cert-publisher": [R("create update", "core", "configmaps"), _events()],
    "route-controller": [
        R("list watch", "core", "nodes"),
        R("patch", "core", "nodes/status"),
        _events(),
    ],
    "service-account-controller": [R("create", "core", "serviceaccounts"), _events()],
    "service-controller": [
        R(READ, "core", "services"),
        R("patch update", "core", "services/status"),
        R("list watch", "core", "nodes"),
        _events(),
    ],
    "statefulset-controller": [
        R("list watch", "core", "pods"),
        R(READ, "apps", "statefulsets"),
        R("update", "apps", "statefulsets/status"),
        R("update", "apps", "statefulsets/finalizers"),
        R("create delete get patch update", "core", "pods"),
        R("create delete get list patch update watch", "apps", "controllerrevisions"),
        R("create get list watch", "core", "persistentvolumeclaims"),
        R("delete update", "core", "persistentvolumeclaims"),
        R("update", "core", "pods/finalizers"),
        _events(),
    ],
    "ttl-after-finished-controller": [R("delete get list watch", "batch", "jobs"), _events()],
    "ttl-controller": [R("list patch update watch", "core", "nodes"), _events()],
    "validatingadmissionpolicy-status-controller": [
        R(READ, "admissionregistration.k8s.io", "validatingadmissionpolicies"),
        R("get patch update", "admissionregistration.k8s.io", "validatingadmissionpolicies/status"),
        _events(),
    ],
}

# ---- namespaced roles (namespace_policy.go) -----------------------------------------------
NAMESPACE_ROLES: dict[tuple[str, str], list[Obj]] = {
    ("kube-system", "extension-apiserver-authentication-reader"): [
        R(READ, "core", "configmaps", "extension-apiserver-authentication"),
    ],
    ("kube-system", "system::leader-locking-kube-controller-manager"): [
        R("create get list update watch", "coordination.k8s.io", "leases"),
        R("create get list update watch", "coordination.k8s.io", "leasecandidates"),
    ],
    ("kube-system", "system::leader-locking-kube-scheduler"): [
        R("create get list update watch", "coordination.k8s.io", "leases"),
        R("create get list update watch", "coordination.k8s.io", "leasecandidates"),
    ],
    ("kube-system", "system:controller:bootstrap-signer"): [R(READ, "core", "secrets")],
    ("kube-system", "system:controller:cloud-provider"): [
        R("create get list watch", "core", "configmaps"),
    ],
    ("kube-system", "system:controller:token-cleaner"): [
        R("delete get list watch", "core", "secrets"),
        _events(),
    ],
    ("kube-public", "system:controller:bootstrap-signer"): [
        R(READ, "core", "configmaps"),
        R("update", "core", "configmaps", "cluster-info"),
        _events(),
    ],
}
NAMESPACE_ROLE_BINDINGS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("kube-system", "system::extension-apiserver-authentication-reader"): (
        "extension-apiserver-authentication-reader",
        ["User:system:kube-controller-manager", "User:system:kube-scheduler"],
    ),
    ("kube-system", "system::leader-locking-kube-controller-manager"): (
        "system::leader-locking-kube-controller-manager",
        [
            "User:system:kube-controller-manager",
            "ServiceAccount:kube-system/kube-controller-manager",
        ],
    ),
    ("kube-system", "system::leader-locking-kube-scheduler"): (
        "system::leader-locking-kube-scheduler",
        ["User:system:kube-scheduler", "ServiceAccount:kube-system/kube-scheduler"],
    ),
    ("kube-system", "system:controller:bootstrap-signer"): (
        "system:controller:bootstrap-signer",
        ["ServiceAccount:kube-system/bootstrap-signer"],
    ),
    ("kube-system", "system:controller:cloud-provider"): (
        "system:controller:cloud-provider",
        ["ServiceAccount:kube-system/cloud-provider"],
    ),
    ("kube-system", "system:controller:token-cleaner"): (
        "system:controller:token-cleaner",
        ["ServiceAccount:kube-system/token-cleaner"],
    ),
    ("kube-public", "system:controller:bootstrap-signer"): (
        "system:controller:bootstrap-signer",
        ["ServiceAccount:kube-system/bootstrap-signer"],
    ),
}

# ---- what kubeadm, CoreDNS and minikube add (no bootstrapping label) ---------------------------
NODE_TOKEN_GROUP = "Group:system:bootstrappers:kubeadm:default-node-token"
EXTRA_CLUSTER_ROLES: dict[str, list[Obj]] = {
    "kubeadm:get-nodes": [R("get", "core", "nodes")],
    "system:coredns": [
        R("list watch", "core", "endpoints namespaces pods services"),
        R("list watch", "discovery.k8s.io", "endpointslices"),
    ],
}
EXTRA_CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[str]]] = {
    "kubeadm:cluster-admins": ("cluster-admin", ["Group:kubeadm:cluster-admins"]),
    "kubeadm:get-nodes": ("kubeadm:get-nodes", [NODE_TOKEN_GROUP]),
    "kubeadm:kubelet-bootstrap": ("system:node-bootstrapper", [NODE_TOKEN_GROUP]),
    "kubeadm:node-autoapprove-bootstrap": (
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        [NODE_TOKEN_GROUP],
    ),
    "kubeadm:node-autoapprove-certificate-rotation": (
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        ["Group:system:nodes"],
    ),
    "kubeadm:node-proxier": ("system:node-proxier", ["ServiceAccount:kube-system/kube-proxy"]),
    "minikube-rbac": ("cluster-admin", ["ServiceAccount:kube-system/default"]),
    "storage-provisioner": (
        "system:persistent-volume-provisioner",
        ["ServiceAccount:kube-system/storage-provisioner"],
    ),
    "system:coredns": ("system:coredns", ["ServiceAccount:kube-system/coredns"]),
}
EXTRA_ROLES: dict[tuple[str, str], list[Obj]] = {
    ("kube-public", "kubeadm:bootstrap-signer-clusterinfo"): [
        R("get", "core", "configmaps", "cluster-info"),
    ],
    ("kube-system", "kube-proxy"): [R("get", "core", "configmaps", "kube-proxy")],
    ("kube-system", "kubeadm:kubelet-config"): [R("get", "core", "configmaps", "kubelet-config")],
    ("kube-system", "kubeadm:nodes-kubeadm-config"): [
        R("get", "core", "configmaps", "kubeadm-config"),
    ],
    ("kube-system", "system:persistent-volume-provisioner"): [
        R("create get list patch update watch", "core", "endpoints"),
    ],
}
EXTRA_ROLE_BINDINGS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("kube-public", "kubeadm:bootstrap-signer-clusterinfo"): (
        "kubeadm:bootstrap-signer-clusterinfo",
        ["User:system:anonymous"],
    ),
    ("kube-system", "kube-proxy"): ("kube-proxy", [NODE_TOKEN_GROUP]),
    ("kube-system", "kubeadm:kubelet-config"): (
        "kubeadm:kubelet-config",
        ["Group:system:nodes", NODE_TOKEN_GROUP],
    ),
    ("kube-system", "kubeadm:nodes-kubeadm-config"): (
        "kubeadm:nodes-kubeadm-config",
        [NODE_TOKEN_GROUP, "Group:system:nodes"],
    ),
    ("kube-system", "system:persistent-volume-provisioner"): (
        "system:persistent-volume-provisioner",
        ["ServiceAccount:kube-system/storage-provisioner"],
    ),
}
# ServiceAccounts of kube-system that the bindings above name (created by the controller manager
# with --use-service-account-credentials, kubeadm and the addons)
SYSTEM_SERVICE_ACCOUNTS = (
    *CONTROLLER_ROLES,
    "bootstrap-signer",
    "coredns",
    "kube-proxy",
    "storage-provisioner",
    "token-cleaner",
)


def _subject(text: str) -> Obj:
    kind, _, rest = text.partition(":")
    if kind == "ServiceAccount":
        ns, _, name = rest.partition("/")
        return {"kind": kind, "name": name, "namespace": ns}
    return {"apiGroup": RBAC, "kind": kind, "name": rest}


def _meta(name: str, ns: str = "", boot: bool = True, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if ns:
        meta["namespace"] = ns
    if boot:
        meta["annotations"] = dict(AUTOUPDATE)
        meta["labels"] = {**BOOT_LABELS, **(labels or {})}
    elif labels:
        meta["labels"] = dict(labels)
    return meta


def _binding(kind: str, meta: Obj, role_kind: str, role: str, subjects: list[str]) -> Obj:
    out: Obj = {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
    }
    if subjects:
        out["subjects"] = [_subject(s) for s in subjects]
    return out


def cluster_roles() -> list[Obj]:
    """Every bootstrap ClusterRole (aggregated ones with empty rules: the controller fills them)."""
    out = []
    for name, (rules, labels, aggregate) in CLUSTER_ROLES.items():
        role: Obj = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole"}
        role["metadata"] = _meta(name, labels=labels)
        if aggregate:
            role["aggregationRule"] = {
                "clusterRoleSelectors": [{"matchLabels": {aggregate: "true"}}]
            }
        role["rules"] = [dict(r) for r in rules]
        out.append(role)
    for short, rules in CONTROLLER_ROLES.items():
        role = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole"}
        role["metadata"] = _meta(f"system:controller:{short}")
        role["rules"] = rules
        out.append(role)
    for name, rules in EXTRA_CLUSTER_ROLES.items():
        out.append(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRole",
                "metadata": _meta(name, boot=False),
                "rules": rules,
            }
        )
    return out


def cluster_role_bindings() -> list[Obj]:
    """Every bootstrap ClusterRoleBinding."""
    out = [
        _binding("ClusterRoleBinding", _meta(name), "ClusterRole", role, subjects)
        for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items()
    ]
    for short in CONTROLLER_ROLES:
        name = f"system:controller:{short}"
        out.append(
            _binding(
                "ClusterRoleBinding",
                _meta(name),
                "ClusterRole",
                name,
                [f"ServiceAccount:kube-system/{short}"],
            )
        )
    out += [
        _binding("ClusterRoleBinding", _meta(name, boot=False), "ClusterRole", role, subjects)
        for name, (role, subjects) in EXTRA_CLUSTER_ROLE_BINDINGS.items()
    ]
    return out


def roles() -> list[Obj]:
    """Every bootstrap Role (kube-system, kube-public)."""
    out = []
    for table, boot in ((NAMESPACE_ROLES, True), (EXTRA_ROLES, False)):
        for (ns, name), rules in table.items():
            out.append(
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "Role",
                    "metadata": _meta(name, ns, boot),
                    "rules": rules,
                }
            )
    return out


def role_bindings() -> list[Obj]:
    """Every bootstrap RoleBinding."""
    out = []
    for table, boot in ((NAMESPACE_ROLE_BINDINGS, True), (EXTRA_ROLE_BINDINGS, False)):
        for (ns, name), (role, subjects) in table.items():
            out.append(_binding("RoleBinding", _meta(name, ns, boot), "Role", role, subjects))
    return out


def install_policy(api: Any, rbac: Any) -> None:
    """Create the bootstrap RBAC objects and kube-system's ServiceAccounts; aggregate roles."""
    from . import resources as R

    for plural, objects in (
        ("clusterroles", cluster_roles()),
        ("clusterrolebindings", cluster_role_bindings()),
        ("roles", roles()),
        ("rolebindings", role_bindings()),
    ):
        res = R.preferred(RBAC, plural)
        for obj in objects:
            api.create(res, obj["metadata"].get("namespace", ""), obj, internal=True)
    for name in SYSTEM_SERVICE_ACCOUNTS:
        api.create(R.SERVICEACCOUNT, "kube-system", {"metadata": {"name": name}}, internal=True)
    apply_aggregation(api, rbac)


def apply_aggregation(api: Any, rbac: Any) -> None:
    """The clusterrole-aggregation controller: write aggregated rules that changed."""
    for role in rbac.aggregate():
        api.store.put((RBAC, "clusterroles"), role)
    rbac.aggregated_at = rbac.cluster_roles_generation


def sync_aggregation(ctl: Any) -> None:
    """Controller pass: re-aggregate only when some ClusterRole changed since the last pass."""
    rbac = getattr(ctl, "rbac", None)
    if rbac is not None and rbac.aggregated_at != rbac.cluster_roles_generation:
        apply_aggregation(ctl.api, rbac)


__all__ = [
    "SYSTEM_SERVICE_ACCOUNTS",
    "apply_aggregation",
    "cluster_role_bindings",
    "cluster_roles",
    "install_policy",
    "role_bindings",
    "roles",
    "sync_aggregation",
]
