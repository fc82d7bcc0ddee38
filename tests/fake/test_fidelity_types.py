"""Fidelity rows for values of the wrong JSON type and for `/openapi/v2`, with the real kubectl.

Expected texts follow the Kubernetes v1.32 source: apiserver handlers/create.go and patch.go
(`transformDecodeError`, the `patch` field of a 422), encoding/json's UnmarshalTypeError,
runtime.DefaultUnstructuredConverter (strategic merge), structured-merge-diff (server-side apply),
and kube-openapi's proto validation that kubectl runs on a `kind: List`.
"""

from __future__ import annotations

import json

import pytest

from labtools.testing.cluster import FakeCluster
from labtools.testing.cluster import NamespacedKubectl as Kube

pytestmark = pytest.mark.fake

STOP = "; if you choose to ignore these errors, turn validation off with --validate=false"


@pytest.mark.parametrize(
    ("patch_type", "patch", "value", "error"),
    [
        (
            "strategic",
            '{"spec":{"replicas":"x"}}',
            '"map[spec:map[replicas:x]]"',
            "unrecognized type: int32",
        ),
        (
            "strategic",
            '{"spec":{"paused":1}}',
            '"map[spec:map[paused:1]]"',
            "unrecognized type: bool",
        ),
        (
            "merge",
            '{"spec":{"replicas":"x"}}',
            None,
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        ),
        (
            "json",
            '[{"op":"replace","path":"/spec/replicas","value":true}]',
            None,
            "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        ),
        (
            "merge",
            '{"metadata":{"labels":{"v":1}}}',
            None,
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels "
            "of type string",
        ),
    ],
)
def test_patch_with_a_wrong_type_is_invalid(
    kube: Kube, patch_type: str, patch: str, value: str | None, error: str
) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx")
    result = kube("patch", "deploy", "web", "--type", patch_type, "-p", patch)
    assert result.returncode == 1
    text = result.stderr.strip()
    assert text.startswith("The request is invalid: patch: Invalid value: ")
    assert text.endswith(f": {error}")
    if value is not None:
        assert text == f"The request is invalid: patch: Invalid value: {value}: {error}"
    else:
        # json and merge patches quote the whole patched object
        quoted = text.removeprefix("The request is invalid: patch: Invalid value: ")
        patched = json.loads(json.loads(quoted.removesuffix(f": {error}")))
        assert patched["metadata"]["name"] == "web"
    # nothing was stored: later commands still see an int
    assert kube.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "1"


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n"
            "  - port: '80'\n",
            'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal '
            "string into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n"
            "  replicas: 2\n  paused: 'yes'\n  selector:\n    matchLabels: {app: d}\n"
            "  template:\n    metadata:\n      labels: {app: d}\n    spec:\n"
            "      containers: [{name: c, image: nginx}]\n",
            'Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
            "unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
            "  - name: c\n    image: nginx\n    ports:\n    - containerPort: 80.5\n",
            'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number '
            "80.5 into Go struct field ContainerPort.spec.containers.ports.containerPort "
            "of type int32",
        ),
    ],
)
@pytest.mark.parametrize("verb", ["create", "apply"])
def test_create_with_a_wrong_type_is_a_bad_request(
    kube: Kube, verb: str, manifest: str, error: str
) -> None:
    result = kube(verb, "-f", "-", stdin=manifest)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f'Error from server (BadRequest): error when creating "STDIN": {error}'
    )


def test_server_side_apply_with_a_wrong_type(kube: Kube) -> None:
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: x\n"
    )
    result = kube("apply", "--server-side", "-f", "-", stdin=manifest)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error from server: failed to create typed patch object ({kube.namespace}/web; "
        "apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string"
    )


def test_put_with_a_wrong_type_is_a_bad_request(kube: Kube) -> None:
    kube.ok("create", "configmap", "c", "--from-literal=a=b")
    obj = json.loads(kube.ok("get", "configmap", "c", "-o", "json"))
    obj["immutable"] = "no"
    result = kube("replace", "-f", "-", stdin=json.dumps(obj))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when replacing "STDIN": ConfigMap in version '
        '"v1" cannot be handled as a ConfigMap: json: cannot unmarshal string into Go struct '
        "field ConfigMap.immutable of type bool"
    )


# ---- /openapi/v2: kubectl validates a kind: List with it --------------------------------
@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("", "", None),
        (
            "replicas: 1\n",
            "replicas: x\n",
            "ValidationError(Deployment.spec.replicas): invalid type for "
            'io.k8s.api.apps.v1.DeploymentSpec.replicas: got "string", expected "integer"',
        ),
        (
            "replicas: 1\n",
            "replicas: 1\n    replica: 2\n",
            'ValidationError(Deployment.spec): unknown field "replica" in '
            "io.k8s.api.apps.v1.DeploymentSpec",
        ),
    ],
)
def test_apply_of_a_list_from_get_o_yaml(kube: Kube, old: str, new: str, error: str | None) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx")
    kube.ok("expose", "deployment", "web", "--port=80")
    # the file carries resourceVersion: a status write after the get is a real 409 Conflict
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    listing = kube.ok("get", "deploy,svc", "-o", "yaml")
    assert listing.startswith("apiVersion: v1\nitems:\n")
    text = listing.replace("    " + old, "    " + new, 1) if old else listing
    result = kube("apply", "-f", "-", stdin=text)
    if error is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [
            "deployment.apps/web",
            "configured",
            "service/web",
            "configured",
        ]
    else:
        assert result.returncode == 1
        assert (
            result.stderr.strip()
            == f'error: error validating "STDIN": error validating data: {error}{STOP}'
        )


def test_openapi_v2_document(apiserver: FakeCluster) -> None:
    doc = json.loads(apiserver.kubectl("get", "--raw", "/openapi/v2", check=True).stdout)
    assert doc["swagger"] == "2.0"
    deploy = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deploy["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    spec = doc["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"] == {"type": "integer", "format": "int32"}
    labels = doc["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert labels["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    refs = {
        v["$ref"].removeprefix("#/definitions/")
        for d in doc["definitions"].values()
        for v in (d.get("properties") or {}).values()
        if "$ref" in v
    }
    assert refs <= set(doc["definitions"])  # kubectl fails on a dangling reference
    root = json.loads(apiserver.kubectl("get", "--raw", "/", check=True).stdout)
    assert "/openapi/v2" in root["paths"]
