"""A compact field schema of common kinds: strict field validation and `kubectl explain`."""

from __future__ import annotations

from typing import Any

# A schema node is: ANY (free-form), a scalar type name, a dict of fields, or a one-item list.
ANY = "*"
S, INT, B, IOS = "string", "integer", "boolean", "int-or-string"

OWNER_REF = {
    "apiVersion": S,
    "kind": S,
    "name": S,
    "uid": S,
    "controller": B,
    "blockOwnerDeletion": B,
}
META: dict[str, Any] = {
    "name": S,
    "generateName": S,
    "namespace": S,
    "selfLink": S,
    "uid": S,
    "resourceVersion": S,
    "generation": INT,
    "creationTimestamp": S,
    "deletionTimestamp": S,
    "deletionGracePeriodSeconds": INT,
    "labels": ANY,
    "annotations": ANY,
    "ownerReferences": [OWNER_REF],
    "finalizers": [S],
    "managedFields": ANY,
}
SELECTOR = {"matchLabels": ANY, "matchExpressions": [{"key": S, "operator": S, "values": [S]}]}
KEY_REF = {"name": S, "key": S, "optional": B}
ENV = {
    "name": S,
    "value": S,
    "valueFrom": {
        "fieldRef": {"apiVersion": S, "fieldPath": S},
        "resourceFieldRef": {"containerName": S, "resource": S, "divisor": IOS},
        "configMapKeyRef": KEY_REF,
        "secretKeyRef": KEY_REF,
    },
}
ENV_FROM = {
    "prefix": S,
    "configMapRef": {"name": S, "optional": B},
    "secretRef": {"name": S, "optional": B},
}
HANDLER = {
    "exec": {"command": [S]},
    "httpGet": {
        "path": S,
        "port": IOS,
        "host": S,
        "scheme": S,
        "httpHeaders": [{"name": S, "value": S}],
    },
    "tcpSocket": {"port": IOS, "host": S},
    "grpc": {"port": INT, "service": S},
}
PROBE = {
    **HANDLER,
    "initialDelaySeconds": INT,
    "timeoutSeconds": INT,
    "periodSeconds": INT,
    "successThreshold": INT,
    "failureThreshold": INT,
    "terminationGracePeriodSeconds": INT,
}
SEC_CTX = ANY
CONTAINER: dict[str, Any] = {
    "name": S,
    "image": S,
    "command": [S],
    "args": [S],
    "workingDir": S,
    "ports": [{"name": S, "hostPort": INT, "containerPort": INT, "protocol": S, "hostIP": S}],
    "envFrom": [ENV_FROM],
    "env": [ENV],
    "resources": {"limits": ANY, "requests": ANY, "claims": ANY},
    "resizePolicy": ANY,
    "restartPolicy": S,
    "volumeMounts": [
        {
            "name": S,
            "readOnly": B,
            "recursiveReadOnly": S,
            "mountPath": S,
            "subPath": S,
            "mountPropagation": S,
            "subPathExpr": S,
        }
    ],
    "volumeDevices": [{"name": S, "devicePath": S}],
    "livenessProbe": PROBE,
    "readinessProbe": PROBE,
    "startupProbe": PROBE,
    "lifecycle": {"postStart": HANDLER, "preStop": HANDLER, "stopSignal": S},
    "terminationMessagePath": S,
    "terminationMessagePolicy": S,
    "imagePullPolicy": S,
    "securityContext": SEC_CTX,
    "stdin": B,
    "stdinOnce": B,
    "tty": B,
}
VOLUME: dict[str, Any] = {
    "name": S,
    "emptyDir": {"medium": S, "sizeLimit": IOS},
    "hostPath": {"path": S, "type": S},
    "configMap": {"name": S, "items": ANY, "defaultMode": INT, "optional": B},
    "secret": {"secretName": S, "items": ANY, "defaultMode": INT, "optional": B},
    "persistentVolumeClaim": {"claimName": S, "readOnly": B},
    "projected": ANY,
    "downwardAPI": ANY,
    "nfs": ANY,
    "csi": ANY,
    "ephemeral": ANY,
    "image": ANY,
}
POD_SPEC: dict[str, Any] = {
    "volumes": [VOLUME],
    "initContainers": [CONTAINER],
    "containers": [CONTAINER],
    "ephemeralContainers": ANY,
    "restartPolicy": S,
    "terminationGracePeriodSeconds": INT,
    "activeDeadlineSeconds": INT,
    "dnsPolicy": S,
    "nodeSelector": ANY,
    "serviceAccountName": S,
    "serviceAccount": S,
    "automountServiceAccountToken": B,
    "nodeName": S,
    "hostNetwork": B,
    "hostPID": B,
    "hostIPC": B,
    "shareProcessNamespace": B,
    "securityContext": SEC_CTX,
    "imagePullSecrets": [{"name": S}],
    "hostname": S,
    "subdomain": S,
    "affinity": ANY,
    "schedulerName": S,
    "tolerations": [{"key": S, "operator": S, "value": S, "effect": S, "tolerationSeconds": INT}],
    "hostAliases": [{"ip": S, "hostnames": [S]}],
    "priorityClassName": S,
    "priority": INT,
    "dnsConfig": ANY,
    "readinessGates": [{"conditionType": S}],
    "runtimeClassName": S,
    "enableServiceLinks": B,
    "preemptionPolicy": S,
    "overhead": ANY,
    "topologySpreadConstraints": ANY,
    "setHostnameAsFQDN": B,
    "os": {"name": S},
    "hostUsers": B,
    "schedulingGates": [{"name": S}],
    "resourceClaims": ANY,
    "resources": ANY,
}
TEMPLATE = {"metadata": META, "spec": POD_SPEC}
COND = ANY

SCHEMAS: dict[str, dict[str, Any]] = {
    "Pod": {"spec": POD_SPEC, "status": ANY},
    "Deployment": {
        "spec": {
            "replicas": INT,
            "selector": SELECTOR,
            "template": TEMPLATE,
            "strategy": {"type": S, "rollingUpdate": {"maxUnavailable": IOS, "maxSurge": IOS}},
            "minReadySeconds": INT,
            "revisionHistoryLimit": INT,
            "paused": B,
            "progressDeadlineSeconds": INT,
        },
        "status": ANY,
    },
    "ReplicaSet": {
        "spec": {
            "replicas": INT,
            "minReadySeconds": INT,
            "selector": SELECTOR,
            "template": TEMPLATE,
        },
        "status": ANY,
    },
    "Service": {
        "spec": {
            "ports": [
                {
                    "name": S,
                    "protocol": S,
                    "appProtocol": S,
                    "port": INT,
                    "targetPort": IOS,
                    "nodePort": INT,
                }
            ],
            "selector": ANY,
            "clusterIP": S,
            "clusterIPs": [S],
            "type": S,
            "externalIPs": [S],
            "sessionAffinity": S,
            "loadBalancerIP": S,
            "loadBalancerSourceRanges": [S],
            "externalName": S,
            "externalTrafficPolicy": S,
            "healthCheckNodePort": INT,
            "publishNotReadyAddresses": B,
            "sessionAffinityConfig": ANY,
            "ipFamilies": [S],
            "ipFamilyPolicy": S,
            "allocateLoadBalancerNodePorts": B,
            "loadBalancerClass": S,
            "internalTrafficPolicy": S,
            "trafficDistribution": S,
        },
        "status": ANY,
    },
    "ConfigMap": {"data": ANY, "binaryData": ANY, "immutable": B},
    "Secret": {"data": ANY, "stringData": ANY, "type": S, "immutable": B},
    "Namespace": {"spec": {"finalizers": [S]}, "status": ANY},
    "ServiceAccount": {
        "secrets": ANY,
        "imagePullSecrets": [{"name": S}],
        "automountServiceAccountToken": B,
    },
}


def unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Paths of fields the schema of `kind` does not know (empty for unknown kinds)."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return []
    top = {"apiVersion": S, "kind": S, "metadata": META, **schema}
    out: list[str] = []
    _walk(top, obj, "", out)
    return out


def _walk(schema: Any, value: Any, path: str, out: list[str]) -> None:
    if schema == ANY or value is None:
        return
    if isinstance(schema, list) and isinstance(value, list):
        for i, item in enumerate(value):
            _walk(schema[0], item, f"{path}[{i}]", out)
    elif isinstance(schema, dict) and isinstance(value, dict):
        for key, val in value.items():
            sub = f"{path}.{key}" if path else key
            if key not in schema:
                out.append(sub)
            else:
                _walk(schema[key], val, sub, out)
