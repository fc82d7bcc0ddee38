"""Regenerate labtools/testing/apiserver/protoschema.py from the descriptors inside kubectl.

Usage: python tests/fake/data/protobuf/gen_protoschema.py /path/to/kubectl.1.32 OUT.py
then ``ruff format OUT.py``. kubectl's generated.pb.go files register each API package's
FileDescriptorProto gzipped; they are found by the gzip magic and parsed with a tiny wire reader.
"""

from __future__ import annotations

import sys
import zlib
from typing import Any


def varint(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b: bytes) -> list[tuple[int, int, Any]]:
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        v: Any
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i : i + n], i + n
        elif w == 1:
            v, i = b[i : i + 8], i + 8
        elif w == 5:
            v, i = b[i : i + 4], i + 4
        else:
            raise ValueError(w)
        out.append((f, w, v))
    return out


def files(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        data = handle.read()
    magic = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
    i, res = 0, {}
    while (i := data.find(magic, i)) >= 0:
        try:
            out = zlib.decompressobj(16 + 15).decompress(data[i : i + 2_000_000])
            if b"generated.proto" in out[:200]:
                fd = fields(out)
                res[next(v for f, _, v in fd if f == 1).decode()] = fd
        except (zlib.error, ValueError, IndexError):
            pass
        i += 1
    return res


PKGS = {
    "k8s.io.api.core.v1": ("core/v1", "v1"),
    "k8s.io.api.apps.v1": ("apps/v1", "apps/v1"),
    "k8s.io.api.batch.v1": ("batch/v1", "batch/v1"),
    "k8s.io.api.rbac.v1": ("rbac/v1", "rbac.authorization.k8s.io/v1"),
    "k8s.io.api.networking.v1": ("networking/v1", "networking.k8s.io/v1"),
    "k8s.io.api.policy.v1": ("policy/v1", "policy/v1"),
    "k8s.io.api.scheduling.v1": ("scheduling/v1", "scheduling.k8s.io/v1"),
    "k8s.io.api.autoscaling.v1": ("autoscaling/v1", "autoscaling/v1"),
    "k8s.io.api.autoscaling.v2": ("autoscaling/v2", "autoscaling/v2"),
    "k8s.io.api.authentication.v1": ("authentication/v1", "authentication.k8s.io/v1"),
    "k8s.io.api.authorization.v1": ("authorization/v1", "authorization.k8s.io/v1"),
    "k8s.io.api.coordination.v1": ("coordination/v1", "coordination.k8s.io/v1"),
    "k8s.io.apimachinery.pkg.apis.meta.v1": ("meta/v1", None),
    "k8s.io.apimachinery.pkg.runtime": ("runtime", None),
    "k8s.io.apimachinery.pkg.runtime.schema": ("schema", None),
    "k8s.io.apimachinery.pkg.util.intstr": ("intstr", None),
    "k8s.io.apimachinery.pkg.api.resource": ("resource", None),
}
SCALARS = {3: "int64", 5: "int32", 8: "bool", 9: "string", 12: "bytes"}
# Go embeds these structs without a JSON name (json:",inline"): their fields sit in the parent.
INLINE = {
    ("core/v1.Volume", "volumeSource"),
    ("core/v1.Probe", "handler"),
    ("core/v1.EphemeralContainer", "ephemeralContainerCommon"),
    ("core/v1.PersistentVolumeSpec", "persistentVolumeSource"),
    ("core/v1.ConfigMapEnvSource", "localObjectReference"),
    ("core/v1.ConfigMapKeySelector", "localObjectReference"),
    ("core/v1.ConfigMapProjection", "localObjectReference"),
    ("core/v1.ConfigMapVolumeSource", "localObjectReference"),
    ("core/v1.SecretEnvSource", "localObjectReference"),
    ("core/v1.SecretKeySelector", "localObjectReference"),
    ("core/v1.SecretProjection", "localObjectReference"),
    ("networking/v1.IngressRule", "ingressRuleValue"),
}
# Plain (non-pointer) scalars whose JSON tag has no omitempty: Go prints them even when zero.
ALWAYS = {
    "core/v1.Container": ["name"],
    "core/v1.EphemeralContainerCommon": ["name"],
    "core/v1.ContainerPort": ["containerPort"],
    "core/v1.EnvVar": ["name"],
    "core/v1.VolumeMount": ["name", "mountPath"],
    "core/v1.VolumeDevice": ["name", "devicePath"],
    "core/v1.Volume": ["name"],
    "core/v1.KeyToPath": ["key", "path"],
    "core/v1.ConfigMapKeySelector": ["key"],
    "core/v1.SecretKeySelector": ["key"],
    "core/v1.ObjectFieldSelector": ["fieldPath"],
    "core/v1.ResourceFieldSelector": ["resource"],
    "core/v1.ServicePort": ["port"],
    "core/v1.GRPCAction": ["port"],
    "core/v1.HostPathVolumeSource": ["path"],
    "core/v1.NFSVolumeSource": ["server", "path"],
    "core/v1.PersistentVolumeClaimVolumeSource": ["claimName"],
    "core/v1.DownwardAPIVolumeFile": ["path"],
    "core/v1.ServiceAccountTokenProjection": ["path"],
    "core/v1.NodeSelectorRequirement": ["key", "operator"],
    "core/v1.PreferredSchedulingTerm": ["weight"],
    "core/v1.WeightedPodAffinityTerm": ["weight"],
    "core/v1.PodAffinityTerm": ["topologyKey"],
    "core/v1.TopologySpreadConstraint": ["maxSkew", "topologyKey", "whenUnsatisfiable"],
    "core/v1.SeccompProfile": ["type"],
    "core/v1.AppArmorProfile": ["type"],
    "core/v1.ContainerResizePolicy": ["resourceName", "restartPolicy"],
    "core/v1.Sysctl": ["name", "value"],
    "core/v1.HTTPHeader": ["name", "value"],
    "core/v1.SleepAction": ["seconds"],
    "core/v1.PodReadinessGate": ["conditionType"],
    "core/v1.ScopedResourceSelectorRequirement": ["scopeName", "operator"],
    "core/v1.LimitRangeItem": ["type"],
    "core/v1.PodResourceClaim": ["name"],
    "core/v1.ResourceClaim": ["name"],
    "core/v1.CSIVolumeSource": ["driver"],
    "core/v1.PodCondition": ["type", "status"],
    "core/v1.NamespaceCondition": ["type", "status"],
    "meta/v1.LabelSelectorRequirement": ["key", "operator"],
    "meta/v1.OwnerReference": ["apiVersion", "kind", "name", "uid"],
    "meta/v1.Condition": ["type", "status", "reason", "message"],
    "apps/v1.DeploymentCondition": ["type", "status"],
    "batch/v1.CronJobSpec": ["schedule"],
    "batch/v1.JobCondition": ["type", "status"],
    "batch/v1.PodFailurePolicyRule": ["action"],
    "batch/v1.PodFailurePolicyOnExitCodesRequirement": ["operator"],
    "batch/v1.PodFailurePolicyOnPodConditionsPattern": ["type", "status"],
    "rbac/v1.Subject": ["kind", "name"],
    "rbac/v1.RoleRef": ["apiGroup", "kind", "name"],
    "networking/v1.IngressServiceBackend": ["name"],
    "networking/v1.IPBlock": ["cidr"],
    "scheduling/v1.PriorityClass": ["value"],
    "policy/v1.PodDisruptionBudgetStatus": [
        "disruptionsAllowed",
        "currentHealthy",
        "desiredHealthy",
        "expectedPods",
    ],
    "apps/v1.ReplicaSetStatus": ["replicas"],
    "apps/v1.StatefulSetStatus": ["replicas"],
    "apps/v1.DaemonSetStatus": [
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
    ],
    "core/v1.ReplicationControllerStatus": ["replicas"],
    "autoscaling/v1.HorizontalPodAutoscalerSpec": ["maxReplicas"],
    "autoscaling/v1.HorizontalPodAutoscalerStatus": ["currentReplicas", "desiredReplicas"],
    "autoscaling/v1.CrossVersionObjectReference": ["kind", "name"],
    "autoscaling/v1.ScaleStatus": ["replicas"],
    "autoscaling/v2.HorizontalPodAutoscalerSpec": ["maxReplicas"],
    "autoscaling/v2.HorizontalPodAutoscalerStatus": ["desiredReplicas"],
    "autoscaling/v2.CrossVersionObjectReference": ["kind", "name"],
    "authorization/v1.SubjectAccessReviewStatus": ["allowed"],
    "authorization/v1.SubjectRulesReviewStatus": ["incomplete"],
    "authentication/v1.TokenRequestStatus": ["token"],
}


def short(full: str) -> str:
    """``.k8s.io.api.core.v1.PodSpec`` -> ``core/v1.PodSpec``."""
    pkg, _, name = full.lstrip(".").rpartition(".")
    return f"{PKGS[pkg][0]}.{name}"


def option_nullable(field: dict[int, Any]) -> bool:
    """gogoproto.nullable (65001) = false marks a plain Go value; absent means a pointer."""
    return not any(n == 65001 and v == 0 for n, _, v in fields(field.get(8, b"")))


def map_entries(pkg: str, name: str, message: list[tuple[int, int, Any]]) -> dict[str, str]:
    """Nested ``XxxEntry`` messages of a message -> ``map<K,V>``."""
    entries = {}
    for number, _, nested in message:
        if number != 3:
            continue
        parts = fields(nested)
        entry = next(v for n, _, v in parts if n == 1).decode()
        kv = {}
        for n, _, raw in parts:
            if n == 2:
                d = {k: v for k, _, v in fields(raw)}
                kv[d[3]] = SCALARS.get(d[5]) or short(d[6].decode())
        entries[f".{pkg}.{name}.{entry}"] = f"map<{kv[1]},{kv[2]}>"
    return entries


def message_table(pkg: str, name: str, message: list[tuple[int, int, Any]]) -> dict[int, Any]:
    entries = map_entries(pkg, name, message)
    table = {}
    for number, _, raw in message:
        if number != 2:
            continue
        d = {k: v for k, _, v in fields(raw)}
        if d[5] == 11:
            type_name = entries.get(d[6].decode()) or short(d[6].decode())
        else:
            type_name = SCALARS[d[5]]
        if type_name.startswith("map<"):
            mode = "map"
        elif d[4] == 3:
            mode = "list"
        else:
            mode = "ptr" if option_nullable(d) else "val"
        table[d[3]] = (d[1].decode(), type_name, mode)
    return table


def read_messages(kubectl: str) -> dict[str, dict[int, Any]]:
    msgs = {}
    for fd in files(kubectl).values():
        pkg = next(v for f, _, v in fd if f == 2).decode()
        if pkg not in PKGS:
            continue
        for number, _, raw in fd:
            if number == 4:
                message = fields(raw)
                name = next(v for n, _, v in message if n == 1).decode()
                msgs[f"{PKGS[pkg][0]}.{name}"] = message_table(pkg, name, message)
    return msgs


def find_kinds(msgs: dict[str, dict[int, Any]]) -> dict[tuple[str, str], str]:
    """Top-level kinds: field 1 is ObjectMeta, and not a template embedded in another object."""
    versions = dict(PKGS.values())
    kinds = {}
    for mname, table in msgs.items():
        prefix, name = mname.split(".")
        template = name.endswith("TemplateSpec") or name == "PersistentVolumeClaimTemplate"
        is_object = 1 in table and table[1][:2] == ("metadata", "meta/v1.ObjectMeta")
        if versions[prefix] and is_object and not template:
            kinds[(versions[prefix], name)] = mname
    return kinds


def reachable(msgs: dict[str, dict[int, Any]], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for _, type_name, _ in msgs[current].values():
            inner = type_name.removeprefix("map<").removesuffix(">").split(",")
            todo.extend(t for t in inner if "." in t)
    return seen


def set_mode(msgs: dict[str, dict[int, Any]], mname: str, name: str, mode: str) -> None:
    hits = [k for k, v in msgs[mname].items() if v[0] == name]
    assert len(hits) == 1, (mname, name)
    json_name, type_name, old = msgs[mname][hits[0]]
    assert old == "val", (mname, name, old)
    msgs[mname][hits[0]] = (json_name, type_name, mode)


HEADER = """\"\"\"Protobuf field tables for the Kubernetes v1.32 types the fake API server decodes.

GENERATED by tests/fake/data/protobuf/gen_protoschema.py: field numbers, names, types and
pointer-ness come from the FileDescriptorProtos that kubectl v1.32 embeds (the gzipped descriptors
of the generated.proto of each API package, registered by generated.pb.go).
tests/fake/test_protobuf.py re-reads them from the kubectl binary and checks every entry. Two
hand-kept facts are not in the descriptors and come from the Go JSON tags: ``inline`` (an embedded
struct with ``json:",inline"``) and ``always`` (a plain scalar whose JSON tag has no
``omitempty``, so Go prints it even when zero).

Each message maps field number -> (json name, type, mode). Type is a scalar (``string``, ``bytes``,
``int32``, ``int64``, ``bool``), a message name (``core/v1.PodSpec``) or ``map<K,V>``. Mode:
``val`` plain Go value (zero -> omitted from JSON), ``always`` plain value always printed,
``ptr`` Go pointer (present on the wire -> present in JSON, even when zero), ``list`` repeated,
``map`` map, ``inline`` embedded struct whose fields are merged into the parent object.
\"\"\"

from __future__ import annotations

Field = tuple[str, str, str]

"""


def render(msgs: dict[str, dict[int, Any]], kinds: dict[tuple[str, str], str]) -> str:
    lines = [HEADER + "# (apiVersion, kind) -> message", "KINDS: dict[tuple[str, str], str] = {"]
    lines += [f"    ({gv!r}, {kind!r}): {m!r}," for (gv, kind), m in sorted(kinds.items())]
    lines += ["}", "", "MESSAGES: dict[str, dict[int, Field]] = {"]
    for mname in sorted(reachable(msgs, [*kinds.values(), "runtime.Unknown"])):
        lines.append(f"    {mname!r}: {{")
        lines += [f"        {num}: {f!r}," for num, f in sorted(msgs[mname].items())]
        lines.append("    },")
    return "\n".join([*lines, "}", ""]).replace("'", '"')


def main(kubectl: str, out: str) -> None:
    msgs = read_messages(kubectl)
    for mname, names in ALWAYS.items():
        for name in names:
            set_mode(msgs, mname, name, "always")
    for mname, name in INLINE:
        set_mode(msgs, mname, name, "inline")
    with open(out, "w") as handle:
        handle.write(render(msgs, find_kinds(msgs)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
