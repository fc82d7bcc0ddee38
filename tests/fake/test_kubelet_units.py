"""The fake kubelet's pure parts: env resolution, ``$(VAR)`` expansion, volume payloads, writer.

Cases from Kubernetes v1.32: ``third_party/forked/golang/expansion/expand_test.go``,
``pkg/kubelet/kubelet_pods.go`` (``makeEnvironmentVariables``), ``pkg/api/v1/resource/helpers.go``
(``ExtractContainerResourceValue``), ``pkg/volume/configmap/configmap.go`` (``MakePayload``),
``pkg/volume/util/atomic_writer.go``.
"""

from __future__ import annotations

import base64
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from labtools.testing.apiserver import podenv, volumes

pytestmark = pytest.mark.fake

VARS = {"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_B)", "A-B"),
        ("$(VAR_EMPTY)", ""),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$$(VAR_A)", "$(VAR_A)"),
        ("$$$(VAR_A)", "$A"),
        ("$(VAR_A", "$(VAR_A"),
        ("$VAR_A", "$VAR_A"),
        ("$", "$"),
        ("foo$", "foo$"),
        ("foo$()bar", "foo$()bar"),
        ("$$", "$"),
    ],
)
def test_expand_like_kubernetes(text: str, expected: str) -> None:
    assert podenv.expand(text, podenv.mapping_for(VARS)) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        ("128Mi", Fraction(128 * 2**20)),
        ("1G", Fraction(10**9)),
        ("1e3", Fraction(1000)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("3912216Ki", Fraction(3912216 * 1024)),
    ],
)
def test_parse_quantity(text: str, value: Fraction) -> None:
    assert podenv.parse_quantity(text) == value


ALLOCATABLE = {"cpu": "2", "memory": "3912216Ki", "ephemeral-storage": "102107096Ki"}


@pytest.mark.parametrize(
    ("resource", "divisor", "resources", "expected"),
    [
        ("limits.cpu", "0", {}, "2"),  # no limit: the node's allocatable
        ("limits.cpu", "1m", {"limits": {"cpu": "250m"}}, "250"),
        ("limits.cpu", "0", {"limits": {"cpu": "250m"}}, "1"),  # rounded up to a core
        ("requests.cpu", "0", {}, "0"),
        ("limits.memory", "1Mi", {"limits": {"memory": "64Mi"}}, "64"),
        ("limits.memory", "0", {}, str(3912216 * 1024)),
        ("requests.memory", "1Mi", {"requests": {"memory": "100M"}}, "96"),
    ],
)
def test_resource_field_values(
    resource: str, divisor: str, resources: dict[str, Any], expected: str
) -> None:
    ref = {"resource": resource, "divisor": divisor}
    assert podenv.resource_value(ref, {"resources": resources}, ALLOCATABLE) == expected


def test_field_values_and_format_map() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u1",
            "labels": {"b": "2", "a": 'say "hi"\n'},
        },
        "spec": {"nodeName": "minikube", "serviceAccountName": "builder"},
        "status": {"podIP": "10.244.0.9", "podIPs": [{"ip": "10.244.0.9"}]},
    }
    assert podenv.field_value(pod, "metadata.labels") == 'a="say \\"hi\\"\\n"\nb="2"'
    assert podenv.field_value(pod, "metadata.labels['b']") == "2"
    assert podenv.field_value(pod, "spec.serviceAccountName") == "builder"
    assert podenv.field_value(pod, "status.podIPs") == "10.244.0.9"
    assert podenv.field_value(pod, "status.hostIP") == "192.168.49.2"


def _lookup(objects: dict[tuple[str, str], dict[str, Any]]) -> podenv.Lookup:
    def get(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return objects.get((kind, name))

    return get


POD = {"metadata": {"name": "p", "namespace": "lab"}, "spec": {}}
OBJECTS = {
    ("configmap", "cfg"): {"data": {"A": "1", "B": "2"}},
    ("secret", "sec"): {"data": {"PW": base64.b64encode(b"pa$$").decode()}},
}


def test_env_from_then_env_wins_and_expands() -> None:
    container = {
        "envFrom": [
            {"configMapRef": {"name": "cfg"}},
            {"prefix": "S_", "secretRef": {"name": "sec"}},
        ],
        "env": [
            {"name": "A", "value": "override-$(B)-$(S_PW)-$(SVC_SERVICE_HOST)"},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PW"}}},
        ],
    }
    env = podenv.container_variables(
        POD, container, _lookup(OBJECTS), {"SVC_SERVICE_HOST": "10.96.0.7"}, {}
    )
    assert env == {"A": "override-2-pa$$-10.96.0.7", "B": "2", "S_PW": "pa$$", "C": "pa$$"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"configMapKeyRef": {"name": "nope", "key": "A"}}, 'configmap "nope" not found'),
        ({"secretKeyRef": {"name": "nope", "key": "A"}}, 'secret "nope" not found'),
        (
            {"configMapKeyRef": {"name": "cfg", "key": "Z"}},
            "couldn't find key Z in ConfigMap lab/cfg",
        ),
        ({"secretKeyRef": {"name": "sec", "key": "Z"}}, "couldn't find key Z in Secret lab/sec"),
    ],
)
def test_env_errors_have_the_kubelets_text(item: dict[str, Any], message: str) -> None:
    container = {"env": [{"name": "X", "valueFrom": item}]}
    with pytest.raises(podenv.ConfigError) as caught:
        podenv.container_variables(POD, container, _lookup(OBJECTS), {}, {})
    assert str(caught.value) == message
    for ref in item.values():
        ref["optional"] = True
    assert podenv.container_variables(POD, container, _lookup(OBJECTS), {}, {}) == {}


def test_make_payload_items_modes_and_errors() -> None:
    obj = {"data": {"a": "x"}, "binaryData": {"b": base64.b64encode(b"\x00\x01").decode()}}
    every = volumes.make_payload("configmap", [], obj, 0o644, False)
    assert every == {
        "a": volumes.FileProjection(b"x", 0o644),
        "b": volumes.FileProjection(b"\x00\x01", 0o644),
    }
    items = [{"key": "a", "path": "dir/a.txt", "mode": 0o600}]
    assert volumes.make_payload("configmap", items, obj, 0o644, False) == {
        "dir/a.txt": volumes.FileProjection(b"x", 0o600)
    }
    with pytest.raises(podenv.ConfigError, match="configmap references non-existent config key: z"):
        volumes.make_payload("configmap", [{"key": "z", "path": "z"}], obj, 0o644, False)
    with pytest.raises(podenv.ConfigError, match=r"^references non-existent secret key: z$"):
        volumes.make_payload("secret", [{"key": "z", "path": "z"}], {}, 0o644, False)
    assert volumes.make_payload("configmap", [{"key": "z", "path": "z"}], obj, 0o644, True) == {}


def test_projected_errors_are_aggregated() -> None:
    volume = {
        "name": "all",
        "projected": {"sources": [{"configMap": {"name": "x"}}, {"secret": {"name": "y"}}]},
    }
    context = volumes.VolumeContext(POD, _lookup({}), {})
    with pytest.raises(volumes.MountError) as caught:
        volumes.payload(volume, context)
    assert caught.value.event_message() == (
        'MountVolume.SetUp failed for volume "all" : '
        '[configmap "x" not found, secret "y" not found]'
    )


def test_atomic_writer_layout_and_update(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    first = {
        "a": volumes.FileProjection(b"1", 0o644),
        "dir/b": volumes.FileProjection(b"2", 0o400),
    }
    assert volumes.write_atomic(target, first) is True
    stamp = os.readlink(target / "..data")
    assert stamp.startswith("..")
    assert (target / stamp).is_dir()
    assert os.readlink(target / "a") == "..data/a"
    assert os.readlink(target / "dir") == "..data/dir"
    assert (target / "dir" / "b").read_bytes() == b"2"
    assert (target / stamp / "dir" / "b").stat().st_mode & 0o777 == 0o400
    assert volumes.write_atomic(target, first) is False  # unchanged: nothing written
    assert os.readlink(target / "..data") == stamp
    second = {"a": volumes.FileProjection(b"new", 0o644)}
    assert volumes.write_atomic(target, second) is True
    assert (target / "a").read_bytes() == b"new"
    assert not (target / "dir").exists()
    assert not (target / stamp).exists()  # the old version is removed
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..2")) == [
        "..data",
        "a",
    ]
