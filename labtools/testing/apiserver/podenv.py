"""The kubelet's view of a container's environment: env, envFrom, the downward API, ``$(VAR)``.

Read in Kubernetes v1.32: ``pkg/kubelet/kubelet_pods.go`` (``makeEnvironmentVariables``,
``podFieldSelectorRuntimeValue``), ``pkg/api/v1/resource/helpers.go``
(``ExtractContainerResourceValue``), ``pkg/fieldpath/fieldpath.go`` (``FormatMap``,
``ExtractFieldPathAsString``) and ``third_party/forked/golang/expansion/expand.go`` (``Expand``).
The errors are the kubelet's: their text becomes the container's ``CreateContainerConfigError``
message and the ``Failed`` event (``Error: <text>``).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

Obj = dict[str, Any]
# (kind, namespace, name) -> the object or None; kind is "configmap" or "secret"
Lookup = Callable[[str, str, str], Obj | None]

NODE_IP = "192.168.49.2"
KUBERNETES_ENV = {
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
    "KUBERNETES_SERVICE_PORT": "443",
    "KUBERNETES_SERVICE_PORT_HTTPS": "443",
    "KUBERNETES_PORT": "tcp://10.96.0.1:443",
    "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
    "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
    "KUBERNETES_PORT_443_TCP_PORT": "443",
    "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class ConfigError(Exception):
    """A container's config cannot be generated (the kubelet's error text is the message)."""


def not_found(kind: str, name: str) -> ConfigError:
    """The kubelet's watch-based manager's NotFound: ``configmap "x" not found``."""
    return ConfigError(f'{kind} "{name}" not found')


def parse_quantity(text: str) -> Fraction:
    """The exact value of a resource quantity (``500m``, ``128Mi``, ``1e3``)."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    number, exponent, suffix = match.groups()
    value = Fraction(number)
    if exponent:
        return value * Fraction(10) ** int(exponent[1:])
    suffix = suffix or ""
    return value * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def expand(text: str, mapping: Callable[[str], str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: ``$$`` escapes, unknown names stay as written."""
    out: list[str] = []
    checkpoint, cursor = 0, 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable(text[cursor + 1 :])
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_variable(rest: str) -> tuple[str, bool, int]:
    if rest[0] == "$":
        return "$", False, 1
    if rest[0] == "(":
        end = rest.find(")", 1)
        if end != -1:
            return rest[1:end], True, end + 1
        return "$(", False, 1
    return "$" + rest[0], False, 1


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """Look a name up in each context in turn; unresolved names expand to ``$(name)``."""

    def lookup(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"$({name})"

    return lookup


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (printable runes kept, the rest escaped)."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}" if ord(char) > 0xFF else f"\\x{ord(char):02x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def format_map(values: Mapping[str, str]) -> str:
    """``fieldpath.FormatMap``: sorted ``key="value"`` lines, no final newline."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


def field_value(pod: Obj, path: str) -> str:
    """The value of a downward API ``fieldRef.fieldPath`` for this pod."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    match = _LABEL_PATH.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    pod_ips = [entry.get("ip", "") for entry in status.get("podIPs") or []]
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace") or "default",
        "metadata.uid": meta.get("uid", ""),
        "metadata.labels": format_map(meta.get("labels") or {}),
        "metadata.annotations": format_map(meta.get("annotations") or {}),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.hostIP": status.get("hostIP") or NODE_IP,
        "status.hostIPs": ",".join(e.get("ip", "") for e in status.get("hostIPs") or []) or NODE_IP,
        "status.podIP": status.get("podIP") or (pod_ips[0] if pod_ips else ""),
        "status.podIPs": ",".join(pod_ips) or status.get("podIP", ""),
    }
    if path not in values:
        raise ConfigError(f"unsupported fieldPath: {path}")
    return str(values[path])


def resource_value(ref: Obj, container: Obj, allocatable: Mapping[str, str]) -> str:
    """``ExtractContainerResourceValue``, limits defaulted to the node's allocatable."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    known = name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-")
    if kind not in ("limits", "requests") or not known:
        raise ConfigError(f"unsupported container resource : {resource}")
    source = dict((container.get("resources") or {}).get(kind) or {})
    if kind == "limits":
        for key in ("cpu", "memory", "ephemeral-storage"):
            source.setdefault(key, allocatable.get(key, "0"))
    divisor = parse_quantity(str(ref.get("divisor") or "0")) or Fraction(1)
    value = parse_quantity(str(source.get(name, "0")))
    if name == "cpu":
        # compared in millicores, each rounded up, like convertResourceCPUToString
        return str(math.ceil(Fraction(math.ceil(value * 1000), math.ceil(divisor * 1000))))
    return str(math.ceil(Fraction(math.ceil(value), math.ceil(divisor))))


def _decoded(secret: Obj) -> dict[str, str]:
    return {
        key: base64.b64decode(value).decode("utf-8", errors="surrogateescape")
        for key, value in (secret.get("data") or {}).items()
    }


class EnvResolver:
    """Fetches each ConfigMap and Secret once per container, as the kubelet's maps do."""

    def __init__(self, pod: Obj, lookup: Lookup) -> None:
        self.pod = pod
        self.namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        self.lookup = lookup
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    def source(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        """The data of a ConfigMap or Secret; None when it is missing and optional."""
        key = (kind, name)
        if key not in self._cache:
            obj = self.lookup(kind, self.namespace, name)
            if obj is None:
                if optional:
                    return None
                raise not_found(kind, name)
            self._cache[key] = _decoded(obj) if kind == "secret" else dict(obj.get("data") or {})
        return self._cache[key]

    def key_ref(self, kind: str, ref: Obj) -> str | None:
        """The value of a configMapKeyRef/secretKeyRef; None when optional and absent."""
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        data = self.source(kind, name, optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            label = "ConfigMap" if kind == "configmap" else "Secret"
            raise ConfigError(f"couldn't find key {key} in {label} {self.namespace}/{name}")
        return data[key]


def container_variables(
    pod: Obj,
    container: Obj,
    lookup: Lookup,
    service_env: Mapping[str, str],
    allocatable: Mapping[str, str],
) -> dict[str, str]:
    """The declared variables of a container (envFrom, then env), in the kubelet's order.

    ``service_env`` is the Service link variables: ``$(VAR)`` in a value may name them.
    Raises ConfigError with the kubelet's text when a non-optional source is missing.
    """
    resolver = EnvResolver(pod, lookup)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, field in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(field)
            if ref is None:
                continue
            data = resolver.source(kind, ref.get("name", ""), bool(ref.get("optional")))
            for key, value in (data or {}).items():
                env[prefix + key] = value
    mapping = mapping_for(env, service_env)
    for item in container.get("env") or []:
        resolved = _env_value(item, pod, container, resolver, mapping, allocatable)
        if resolved is not None:
            env[item["name"]] = resolved
    return env


def _env_value(
    item: Obj,
    pod: Obj,
    container: Obj,
    resolver: EnvResolver,
    mapping: Callable[[str], str],
    allocatable: Mapping[str, str],
) -> str | None:
    value = item.get("value")
    source = item.get("valueFrom")
    if value or not source:
        return expand(str(value or ""), mapping)
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"].get("fieldPath", ""))
    if "resourceFieldRef" in source:
        return resource_value(source["resourceFieldRef"], container, allocatable)
    if "configMapKeyRef" in source:
        return resolver.key_ref("configmap", source["configMapKeyRef"])
    if "secretKeyRef" in source:
        return resolver.key_ref("secret", source["secretKeyRef"])
    return ""


def expand_argv(container: Obj, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``ExpandContainerCommandAndArgs``: ``$(VAR)`` in command and args from the final env."""
    mapping = mapping_for(env)
    command = [expand(str(part), mapping) for part in container.get("command") or []]
    args = [expand(str(part), mapping) for part in container.get("args") or []]
    return command, args


# ---- Service link variables ----------------------------------------------------------------
def env_var_name(name: str) -> str:
    """A Service name as the kubelet writes it in variable names (``my-svc`` -> ``MY_SVC``)."""
    return name.upper().replace("-", "_")


def service_link_env(svc: dict[str, Any]) -> dict[str, str]:
    """The variables of one Service, in the kubelet's order (``envvars.FromServices``)."""
    spec, prefix = svc.get("spec") or {}, env_var_name(svc["metadata"]["name"])
    ip, ports = spec["clusterIP"], spec.get("ports") or []
    env = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(ports[0]["port"])}
    for port in ports:
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{env_var_name(port['name'])}"] = str(port["port"])
    for index, port in enumerate(ports):
        proto, number = port.get("protocol") or "TCP", port["port"]
        url = f"{proto.lower()}://{ip}:{number}"
        if index == 0:
            env[f"{prefix}_PORT"] = url  # Docker links special-case the first port
        link = f"{prefix}_PORT_{number}_{proto.upper()}"
        env.update({link: url, f"{link}_PROTO": proto.lower(), f"{link}_PORT": str(number)})
        env[f"{link}_ADDR"] = ip
    return env


def service_env(
    services: list[dict[str, Any]], namespace: str, enable_links: bool = True
) -> dict[str, str]:
    """The Service variables of a new container (kubelet's ``getServiceEnvVarMap``).

    The master service ``kubernetes`` of ``default`` always; with service links on, every other
    Service of the pod's namespace. Services without a cluster IP (headless, ExternalName) give
    nothing.
    """
    chosen: dict[str, dict[str, Any]] = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        if spec.get("clusterIP") in (None, "", "None") or not spec.get("ports"):
            continue
        name, ns = meta["name"], meta.get("namespace") or "default"
        if ns == "default" and name == "kubernetes":
            chosen.setdefault(name, svc)
        elif ns == namespace and enable_links:
            chosen[name] = svc
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(service_link_env(chosen[name]))
    return env
