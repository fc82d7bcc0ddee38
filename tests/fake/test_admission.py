"""Admission in the fake API server: ResourceQuota, LimitRange, Secret types, immutable fields.

Expected texts from the kube-apiserver v1.32 source, named per test:
`staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go` (CheckRequest),
`pkg/quota/v1/evaluator/core/pods.go` (Constraints), `staging/src/k8s.io/apiserver/pkg/admission/
errors.go` (NewForbidden: quota and limit-range refusals are 403 Forbidden, not 422: the issue's
"422 for quota exceeded" is not what the real server answers), `plugin/pkg/admission/limitranger/
admission.go`, `pkg/apis/core/v1/defaults.go`, `pkg/apis/core/validation/validation.go`.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from labtools.testing.cluster import NamespacedKubectl as Kube

pytestmark = pytest.mark.fake


def pod(name: str, resources: dict[str, object] | None = None) -> str:
    spec: dict[str, object] = {"name": name, "image": "nginx"}
    if resources is not None:
        spec["resources"] = resources
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [spec]},
        }
    )


def wait_for(kube: Kube, pattern: str, *args: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    out = kube(*args).stdout
    while not re.search(pattern, out) and time.monotonic() < deadline:
        time.sleep(0.2)
        out = kube(*args).stdout
    return out


# ---- ResourceQuota --------------------------------------------------------------------------
def test_quota_stops_the_third_pod(kube: Kube) -> None:
    """controller.go CheckRequest: `exceeded quota: NAME, requested: ..., used: ...,
    limited: ...` via admission.NewForbidden (403, reason Forbidden)."""
    kube.ok("create", "quota", "pods", "--hard=pods=2,count/configmaps=5")
    assert wait_for(kube, "pods: 0/2", "get", "quota", "pods")
    kube.ok("run", "one", "--image=nginx", "--restart=Never")
    kube.ok("run", "two", "--image=nginx", "--restart=Never")
    result = kube("run", "three", "--image=nginx", "--restart=Never")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (Forbidden): pods "three" is forbidden: exceeded quota: pods, '
        "requested: pods=1, used: pods=2, limited: pods=2"
    )
    table = wait_for(kube, "pods: 2/2", "get", "quota")
    assert re.split(r"\s{2,}", table.splitlines()[0].strip()) == ["NAME", "AGE", "REQUEST", "LIMIT"]
    row = re.split(r"\s{2,}", table.splitlines()[1].strip())
    assert row[0] == "pods"
    assert row[2] == "count/configmaps: 1/5, pods: 2/2"  # kube-root-ca.crt counts
    describe = kube.ok("describe", "quota", "pods").splitlines()
    assert describe[0].split() == ["Name:", "pods"]
    assert describe[1].split() == ["Namespace:", kube.namespace]
    assert describe[2].split() == ["Resource", "Used", "Hard"]
    assert ["pods", "2", "2"] in [line.split() for line in describe]
    status = json.loads(kube.ok("get", "quota", "pods", "-o", "json"))["status"]
    assert status == {
        "hard": {"count/configmaps": "5", "pods": "2"},
        "used": {"count/configmaps": "1", "pods": "2"},
    }
    kube.ok("delete", "pod", "one", "--grace-period=0", "--force")
    assert "pods: 1/2" in wait_for(kube, "pods: 1/2", "get", "quota")
    kube.ok("run", "three", "--image=nginx", "--restart=Never")


def test_compute_quota_needs_limits(kube: Kube) -> None:
    """pods.go Constraints: `failed quota: NAME: must specify limits.cpu for: C; ...`."""
    kube.ok("create", "quota", "compute", "--hard=limits.cpu=1,limits.memory=1Gi,requests.cpu=500m")
    wait_for(kube, "limits.cpu: 0/1", "get", "quota")
    result = kube("run", "web", "--image=nginx", "--restart=Never")
    assert result.stderr.strip() == (
        'Error from server (Forbidden): pods "web" is forbidden: failed quota: compute: must '
        "specify limits.cpu for: web; limits.memory for: web; requests.cpu for: web"
    )
    big = pod("big", {"limits": {"cpu": "2", "memory": "512Mi"}})
    result = kube("apply", "-f", "-", stdin=big)
    assert result.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "big" is forbidden: '
        "exceeded quota: compute, requested: limits.cpu=2,requests.cpu=2, used: "
        "limits.cpu=0,requests.cpu=0, limited: limits.cpu=1,requests.cpu=500m"
    )
    fits = pod("fits", {"limits": {"cpu": "0.5", "memory": "512Mi"}, "requests": {"cpu": "250m"}})
    kube.ok("apply", "-f", "-", stdin=fits)
    status = json.loads(kube.ok("get", "quota", "compute", "-o", "json"))["status"]
    assert status["used"] == {
        "limits.cpu": "500m",
        "limits.memory": "512Mi",
        "requests.cpu": "250m",
    }
    assert status["hard"] == {"limits.cpu": "1", "limits.memory": "1Gi", "requests.cpu": "500m"}


def test_quota_on_replicaset_pods_is_a_replica_failure(kube: Kube) -> None:
    """replica_set.go: FailedCreate events `Error creating: <error>` and the ReplicaFailure
    condition, copied to the Deployment (deployment progress.go getReplicaFailures)."""
    kube.ok("create", "quota", "two", "--hard=pods=2")
    wait_for(kube, "pods: 0/2", "get", "quota")
    kube.ok("create", "deployment", "web", "--image=nginx", "--replicas=3")
    jsonpath = '{.status.conditions[?(@.type=="ReplicaFailure")].reason}'
    assert wait_for(kube, "FailedCreate", "get", "deploy", "web", "-o", f"jsonpath={jsonpath}") == (
        "FailedCreate"
    )
    message = kube.ok(
        "get",
        "deploy",
        "web",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="ReplicaFailure")].message}',
    )
    assert re.fullmatch(
        r'pods "web-[a-z0-9]{8,10}-[a-z0-9]{5}" is forbidden: exceeded quota: two, requested: '
        r"pods=1, used: pods=2, limited: pods=2",
        message,
    ), message
    events = kube.ok("get", "events", "--field-selector=reason=FailedCreate", "-o", "json")
    texts = [e["message"] for e in json.loads(events)["items"]]
    assert texts
    assert all(t.startswith('Error creating: pods "web-') for t in texts)
    assert len(kube.ok("get", "pods", "-o", "name").split()) == 2
    kube.ok("delete", "quota", "two")
    assert len(wait_for(kube, r"(pod/\S+\s+){3}", "get", "pods", "-o", "name").split()) == 3


# ---- LimitRange -----------------------------------------------------------------------------
LIMITS = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {"name": "defaults"},
    "spec": {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "256Mi"},
                "defaultRequest": {"cpu": "0.1"},
                "max": {"cpu": "1"},
                "min": {"memory": "64Mi"},
                "maxLimitRequestRatio": {"cpu": "10"},
            }
        ]
    },
}


def test_limit_range_defaults_are_visible_on_the_pod(kube: Kube) -> None:
    """defaults.go SetDefaults_LimitRangeItem, then LimitRanger's defaults and annotation."""
    kube.ok("apply", "-f", "-", stdin=json.dumps(LIMITS))
    stored = json.loads(kube.ok("get", "limitrange", "defaults", "-o", "json"))["spec"]["limits"][0]
    assert stored["defaultRequest"] == {"cpu": "100m", "memory": "256Mi"}
    assert stored["default"] == {"cpu": "500m", "memory": "256Mi"}
    kube.ok("run", "web", "--image=nginx", "--restart=Never")
    created = json.loads(kube.ok("get", "pod", "web", "-o", "json"))
    assert created["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for "
        "container web"
    )
    assert created["status"]["qosClass"] == "Burstable"
    yaml_out = kube.ok("get", "pod", "web", "-o", "yaml")
    assert (
        "kubernetes.io/limit-ranger: 'LimitRanger plugin set: cpu, memory request for" in yaml_out
    )


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            {"limits": {"cpu": "2"}},
            "maximum cpu usage per Container is 1, but limit is 2",
        ),
        (
            {"limits": {"memory": "32Mi"}},
            "minimum memory usage per Container is 64Mi, but request is 32Mi",
        ),
        (
            {"limits": {"cpu": "1"}, "requests": {"cpu": "50m"}},
            "cpu max limit to request ratio per Container is 10, but provided ratio is 20.000000",
        ),
    ],
)
def test_limit_range_violations(kube: Kube, resources: dict[str, object], message: str) -> None:
    """admission.go minConstraint / maxConstraint / limitRequestRatioConstraint."""
    kube.ok("apply", "-f", "-", stdin=json.dumps(LIMITS))
    result = kube("apply", "-f", "-", stdin=pod("p", resources))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: '
        f"{message}"
    )


# ---- Secrets and immutable fields (validation.go) --------------------------------------------
def secret(name: str, kind: str, data: dict[str, str], **extra: object) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": kind,
            "stringData": data,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        (
            "kubernetes.io/tls",
            {},
            "\n* data[tls.crt]: Required value\n* data[tls.key]: Required value",
        ),
        ("kubernetes.io/tls", {"tls.crt": "x"}, "data[tls.key]: Required value"),
        ("kubernetes.io/dockerconfigjson", {}, "data[.dockerconfigjson]: Required value"),
        (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": "x"},
            'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid '
            "character 'x' looking for beginning of value",
        ),
        (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": "[1]"},
            'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot '
            "unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            "kubernetes.io/basic-auth",
            {},
            "\n* data[username]: Required value\n* data[password]: Required value",
        ),
        ("kubernetes.io/ssh-auth", {}, "data[ssh-privatekey]: Required value"),
        (
            "kubernetes.io/service-account-token",
            {},
            "metadata.annotations[kubernetes.io/service-account.name]: Required value",
        ),
    ],
)
def test_secret_types(kube: Kube, kind: str, data: dict[str, str], message: str) -> None:
    result = kube("apply", "-f", "-", stdin=secret("s", kind, data))
    assert result.returncode == 1
    assert result.stderr.strip() == f'The Secret "s" is invalid: {message}'


def test_string_data_is_stored_as_data(kube: Kube) -> None:
    kube.ok(
        "apply", "-f", "-", stdin=secret("basic", "kubernetes.io/basic-auth", {"username": "u"})
    )
    stored = json.loads(kube.ok("get", "secret", "basic", "-o", "json"))
    assert stored["data"] == {"username": "dQ=="}
    assert "stringData" not in stored


def test_immutable_configmap_and_secret(kube: Kube) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen"},
        "data": {"a": "1"},
        "immutable": True,
    }
    kube.ok("apply", "-f", "-", stdin=json.dumps(cm))
    result = kube("patch", "configmap", "frozen", "-p", '{"data":{"a":"2"}}')
    assert result.stderr.strip() == (
        'The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when '
        "`immutable` is set"
    )
    result = kube("patch", "configmap", "frozen", "-p", '{"immutable":false}')
    assert result.stderr.strip() == (
        'The ConfigMap "frozen" is invalid: immutable: Forbidden: field is immutable when '
        "`immutable` is set"
    )
    kube.ok("apply", "-f", "-", stdin=secret("locked", "Opaque", {"k": "v"}, immutable=True))
    result = kube("patch", "secret", "locked", "-p", '{"stringData":{"k":"w"}}')
    assert result.stderr.strip() == (
        'The Secret "locked" is invalid: data: Forbidden: field is immutable when '
        "`immutable` is set"
    )
    result = kube("patch", "secret", "locked", "-p", '{"type":"kubernetes.io/tls"}')
    assert result.stderr.strip() == (
        'The Secret "locked" is invalid: \n* type: Invalid value: "kubernetes.io/tls": field is '
        "immutable\n* data[tls.crt]: Required value\n* data[tls.key]: Required value"
    )
    kube.ok("label", "configmap", "frozen", "still=labelable")


def test_service_cluster_ip_is_immutable(kube: Kube) -> None:
    """validateUpgradeDowngradeClusterIPs: `spec.clusterIPs[0]: ... may not change once set`."""
    kube.ok("create", "service", "clusterip", "web", "--tcp=80:8080")
    result = kube("patch", "service", "web", "-p", '{"spec":{"clusterIP":"10.96.200.200"}}')
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The Service "web" is invalid: spec.clusterIPs[0]: Invalid value: '
        '[]string{"10.96.200.200"}: may not change once set'
    )
    kube.ok("label", "service", "web", "tier=front")


def test_deployment_selector_is_immutable(kube: Kube) -> None:
    """apps/v1 deployment strategy ValidateUpdate: ValidateImmutableField(spec.selector)."""
    kube.ok("create", "deployment", "web", "--image=nginx")
    labels = {"matchLabels": {"app": "other"}}
    patch = json.dumps(
        {"spec": {"selector": labels, "template": {"metadata": {"labels": {"app": "other"}}}}}
    )
    result = kube("patch", "deployment", "web", "-p", patch)
    assert result.stderr.strip() == (
        'The Deployment "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{'
        'MatchLabels:map[string]string{"app":"other"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    )


def test_job_template_and_completions_are_immutable(kube: Kube) -> None:
    """batch validation ValidateJobSpecUpdate: `spec.completions ... field is immutable` and
    `spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable` (the real
    value dumps the whole PodSpec with pointer addresses; the fake keeps its ObjectMeta)."""
    kube.ok("create", "job", "pi", "--image=busybox", "--", "sleep", "30")
    result = kube("patch", "job", "pi", "-p", '{"spec":{"completions":3}}')
    assert result.stderr.strip() == (
        'The Job "pi" is invalid: spec.completions: Invalid value: 3: field is immutable'
    )
    result = kube("set", "image", "job/pi", "pi=busybox:1.36")
    assert result.returncode == 1
    assert (
        'spec.template: Invalid value: core.PodTemplateSpec{ObjectMeta:v1.ObjectMeta{Name:"", '
        'GenerateName:"", Namespace:""'
    ) in result.stderr
    assert result.stderr.strip().endswith("field is immutable")
    kube.ok("patch", "job", "pi", "-p", '{"spec":{"parallelism":1}}')


def test_pod_spec_updates_are_limited(kube: Kube) -> None:
    """validation.go ValidatePodUpdate: images may change; anything else is Forbidden."""
    kube.ok("run", "web", "--image=nginx", "--restart=Never")
    kube.ok("set", "image", "pod/web", "web=nginx:1.27")
    result = kube("patch", "pod", "web", "-p", '{"spec":{"restartPolicy":"Always"}}')
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first == (
        'The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)"
    )


def test_pvc_spec_is_immutable(kube: Kube) -> None:
    """validation.go ValidatePersistentVolumeClaimUpdate (first line; the real one continues
    with a cmp.Diff of the spec, which the fake approximates)."""
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.ok("apply", "-f", "-", stdin=json.dumps(pvc))
    result = kube("patch", "pvc", "data", "-p", '{"spec":{"accessModes":["ReadWriteMany"]}}')
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        'The PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after '
        "creation except resources.requests and volumeAttributesClassName for bound claims"
    )
