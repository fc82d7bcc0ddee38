"""The kubelet's volume plugins for API data: configMap, secret, downwardAPI, projected, emptyDir.

Read in Kubernetes v1.32: ``pkg/volume/configmap/configmap.go`` and ``pkg/volume/secret/secret.go``
(``MakePayload``, ``SetUpAt``), ``pkg/volume/projected/projected.go`` (``collectData``),
``pkg/volume/downwardapi/downwardapi.go`` (``CollectData``), ``pkg/volume/emptydir/empty_dir.go``
and ``pkg/volume/util/atomic_writer.go`` (the on-disk layout). A volume's files live under
``<state>/kubelet/pods/<uid>/volumes/<plugin>/<volume>/`` like the kubelet's
``/var/lib/kubelet/pods/...``, written the way ``AtomicWriter`` writes them:

    ..2026_01_02_15_04_05.1234567890/KEY    the data, one timestamped directory per version
    ..data -> ..2026_01_02_15_04_05.1234567890
    KEY -> ..data/KEY                        what the container sees at mountPath

so a process that reads ``KEY`` while the kubelet updates it sees the old or the new file, never a
mix. The runtime (``pods.py``) bind-mounts these directories at the containers' ``mountPath``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .podenv import ConfigError, Lookup, field_value, not_found, resource_value

Obj = dict[str, Any]
DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
PLUGINS = {
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "projected": "kubernetes.io~projected",
    "downwardAPI": "kubernetes.io~downward-api",
    "emptyDir": "kubernetes.io~empty-dir",
    "persistentVolumeClaim": "kubernetes.io~host-path",
}
# volumes whose content the kubelet keeps in sync with the API (their mounts are read-only)
API_DATA = ("configMap", "secret", "projected", "downwardAPI")


class MountError(Exception):
    """``MountVolume.SetUp`` failed for one volume (the message is the plugin's error)."""

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(message)
        self.volume = volume
        self.message = message

    def event_message(self) -> str:
        """The kubelet's FailedMount event text (``operation_generator.go``)."""
        return f'MountVolume.SetUp failed for volume "{self.volume}" : {self.message}'


@dataclass(frozen=True)
class FileProjection:
    """One file of a volume: its bytes and mode."""

    data: bytes
    mode: int


Payload = dict[str, FileProjection]


# (pod, expirationSeconds, audience) -> a ServiceAccount token for the pod (TokenRequest)
TokenSource = Callable[[Obj, int, str], str]


@dataclass(frozen=True)
class VolumeContext:
    """What a plugin may read: the pod, the API objects, the node's allocatable resources."""

    pod: Obj
    lookup: Lookup
    allocatable: Mapping[str, str]
    token: TokenSource | None = None

    @property
    def namespace(self) -> str:
        """The pod's namespace."""
        return (self.pod.get("metadata") or {}).get("namespace") or "default"


def volume_kind(volume: Obj) -> str | None:
    """Which supported plugin serves a pod volume, or None."""
    for kind in PLUGINS:
        if kind in volume:
            return kind
    return None


def volume_dir(state_dir: Path, pod: Obj, volume: Obj) -> Path:
    """Where the kubelet keeps a pod volume's files.

    A claim's files outlive the pod: they are the volume's (minikube's hostpath provisioner
    keeps them in `/tmp/hostpath-provisioner/NS/CLAIM` on the node; here under the state dir).
    """
    meta = pod.get("metadata") or {}
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if claim:
        return state_dir / "hostpath-provisioner" / str(meta.get("namespace", "")) / str(claim)
    uid = str(meta.get("uid", ""))
    plugin = PLUGINS.get(volume_kind(volume) or "", "kubernetes.io~unsupported")
    return state_dir / "kubelet" / "pods" / uid / "volumes" / plugin / str(volume["name"])


# ---- payloads -----------------------------------------------------------------------------
def payload(volume: Obj, ctx: VolumeContext) -> Payload | None:
    """The files of an API-data volume; None for a volume with no payload (emptyDir).

    Raises MountError with the plugin's text when a referenced object or key is missing.
    """
    kind = volume_kind(volume)
    source = volume.get(kind or "") or {}
    try:
        if kind == "configMap":
            return _object_payload("configmap", source, ctx, source.get("defaultMode", 0o644))
        if kind == "secret":
            return _object_payload("secret", source, ctx, source.get("defaultMode", 0o644))
        if kind == "downwardAPI":
            return _downward_payload(source, ctx, source.get("defaultMode", 0o644))
        if kind == "projected":
            return _projected_payload(source, ctx)
    except ConfigError as exc:
        raise MountError(volume["name"], str(exc)) from exc
    return None


def _object_payload(kind: str, source: Obj, ctx: VolumeContext, default_mode: int) -> Payload:
    name = source.get("name" if kind == "configmap" else "secretName", "") or source.get("name", "")
    optional = bool(source.get("optional"))
    obj = ctx.lookup(kind, ctx.namespace, name)
    if obj is None:
        if not optional:
            raise not_found(kind, name)
        obj = {}
    return make_payload(kind, source.get("items") or [], obj, default_mode, optional)


def object_data(kind: str, obj: Obj) -> dict[str, bytes]:
    """Every key of a ConfigMap (data and binaryData) or Secret (data), as bytes."""
    if kind == "secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    for key, value in (obj.get("binaryData") or {}).items():
        data[key] = base64.b64decode(value)
    return data


def make_payload(
    kind: str, items: list[Obj], obj: Obj, default_mode: int, optional: bool
) -> Payload:
    """``MakePayload``: every key as a file, or only the listed ``items`` at their paths."""
    data = object_data(kind, obj)
    if not items:
        return {key: FileProjection(value, default_mode) for key, value in data.items()}
    out: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            what = (
                "configmap references non-existent config key"
                if kind == "configmap"
                else ("references non-existent secret key")
            )
            raise ConfigError(f"{what}: {key}")
        out[item.get("path") or key] = FileProjection(data[key], item.get("mode", default_mode))
    return out


def _downward_payload(source: Obj, ctx: VolumeContext, default_mode: int) -> Payload:
    out: Payload = {}
    for item in source.get("items") or []:
        mode = item.get("mode", default_mode)
        if "fieldRef" in item:
            text = field_value(ctx.pod, item["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in item:
            ref = item["resourceFieldRef"]
            container = _container(ctx.pod, ref.get("containerName", ""))
            text = resource_value(ref, container, ctx.allocatable)
        else:
            continue
        out[item["path"]] = FileProjection(text.encode(), mode)
    return out


def _container(pod: Obj, name: str) -> Obj:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == name:
            return dict(container)
    return {}


def _projected_payload(source: Obj, ctx: VolumeContext) -> Payload:
    """``collectData``: every source's files together; errors of every source aggregated."""
    default_mode = source.get("defaultMode", 0o644)
    out: Payload = {}
    errors: list[str] = []
    for item in source.get("sources") or []:
        try:
            out.update(_projected_source(item, ctx, default_mode))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        # utilerrors.NewAggregate: one error as is, several as "[a, b]"
        raise ConfigError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return out


def _projected_source(item: Obj, ctx: VolumeContext, default_mode: int) -> Payload:
    if "configMap" in item:
        return _object_payload("configmap", item["configMap"], ctx, default_mode)
    if "secret" in item:
        return _object_payload("secret", item["secret"], ctx, default_mode)
    if "downwardAPI" in item:
        return _downward_payload(item["downwardAPI"], ctx, default_mode)
    if "serviceAccountToken" in item:
        token = item["serviceAccountToken"]
        seconds = int(token.get("expirationSeconds", 3607))
        if ctx.token is not None:
            data = ctx.token(ctx.pod, seconds, str(token.get("audience") or ""))
        else:
            data = service_account_token(ctx.pod, seconds)
        return {token.get("path", "token"): FileProjection(data.encode(), default_mode)}
    return {}


def service_account_token(pod: Obj, expiration: int) -> str:
    """An unsigned stand-in for a bound token, when no issuer signs them (unit tests)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    # issued when the pod was created and the same on every sync: the kubelet rotates a token
    # only at 80% of its lifetime, so a re-read within that sees the same bytes
    now = _epoch(meta.get("creationTimestamp"))
    namespace = meta.get("namespace") or "default"
    account = spec.get("serviceAccountName") or "default"
    claims = {
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": now + expiration,
        "iat": now,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": spec.get("nodeName", ""), "uid": ""},
            "pod": {"name": meta.get("name", ""), "uid": meta.get("uid", "")},
            "serviceaccount": {"name": account, "uid": ""},
        },
        "nbf": now,
        "sub": f"system:serviceaccount:{namespace}:{account}",
    }
    header = {"alg": "RS256", "kid": "labtools-fake"}
    seed = f"{meta.get('uid', '')}/{now}".encode()
    signature = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(8))
    return ".".join(
        _b64url(part)
        for part in (
            json.dumps(header, separators=(",", ":")).encode(),
            json.dumps(claims, separators=(",", ":")).encode(),
            signature,
        )
    )


def _epoch(stamp: object) -> int:
    try:
        return int(dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return int(time.time())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- the atomic writer --------------------------------------------------------------------
def current_payload(target: Path) -> Payload | None:
    """What ``..data`` holds now (None before the first write)."""
    data_dir = target / DATA_DIR
    if not data_dir.is_symlink():
        return None
    out: Payload = {}
    base = target / os.readlink(data_dir)
    for root, _, files in os.walk(base):
        for name in files:
            path = Path(root) / name
            out[str(path.relative_to(base))] = FileProjection(
                path.read_bytes(), path.stat().st_mode & 0o7777
            )
    return out


def write_atomic(target: Path, files: Payload) -> bool:
    """Write ``files`` into ``target`` as the kubelet's AtomicWriter does; False if unchanged."""
    if current_payload(target) == files:
        return False
    target.mkdir(parents=True, exist_ok=True)
    old = os.readlink(target / DATA_DIR) if (target / DATA_DIR).is_symlink() else None
    ts_dir = _new_timestamp_dir(target)
    for rel, projection in files.items():
        path = ts_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(projection.data)
        path.chmod(projection.mode)
    tmp_link = target / NEW_DATA_DIR
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(ts_dir.name)
    tmp_link.rename(target / DATA_DIR)
    visible = {rel.split("/", 1)[0] for rel in files}
    for name in visible:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{name}")
    for entry in os.listdir(target):
        if not entry.startswith("..") and entry not in visible:
            (target / entry).unlink()
    if old is not None:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def _new_timestamp_dir(target: Path) -> Path:
    """``os.MkdirTemp(dir, "..2006_01_02_15_04_05.")``: a UTC stamp and a random number."""
    stamp = dt.datetime.now(dt.UTC).strftime("..%Y_%m_%d_%H_%M_%S.")
    while True:
        path = target / f"{stamp}{random.randrange(2**32)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        path.chmod(0o755)
        return path


def empty_dir(path: Path) -> None:
    """An emptyDir volume: a directory anyone in the pod may write (mode 0777)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
