"""The ``context`` provider: an existing cluster reached through a kubeconfig context.

labtools does not own the cluster, so the lab runs in its own namespace (``lab-<host>`` by
default). With ``isolation`` (on by default) each host is a workshop participant: ``cluster
start`` applies ``templates/workshop/*.yaml.j2`` as the instructor (the namespace, a ServiceAccount,
a Role and RoleBinding, a ResourceQuota and LimitRange) and issues the participant's kubeconfig
(a TokenRequest token and the cluster's CA, mode 0600); every other step then runs AS the
participant, with that kubeconfig. ``cluster delete`` deletes what the templates made and the file.
Without isolation ``cluster start`` creates the namespace and the lab runs as the instructor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from labtools.core.errors import ConfigError, Location, ProviderError
from labtools.core.kubeconfig import applied_changes, deleted_something, parse_duration
from labtools.core.messages import Text, msg
from labtools.core.model import Command, Host
from labtools.core.results import Output
from labtools.providers.base import (
    ClusterOp,
    Credentials,
    FactCommand,
    Facts,
    Leftover,
    PreflightProblem,
    binary_of,
    isolation_on,
    participant_kubeconfig,
    where,
)
from labtools.providers.minikube import _truthy, unknown_op

NO_MINIKUBE = msg("provider context: no minikube (existing cluster)")
# Namespaces the cluster owns: labtools never deletes them, even when the inventory names one.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
WORKSHOP_TEMPLATES = "workshop"  # templates/workshop/*.yaml.j2: a participant's place
# What a participant's place is sized to by default: the Basics lab with its extended part
# (4 replicas plus one surge pod of a rolling update) fits; a runaway loop does not.
ISOLATION_DEFAULTS: Mapping[str, Any] = {
    "isolation": True,
    "participant_account": "student",
    "token_duration": "8h",
    "quota_cpu": "4",
    "quota_memory": "2Gi",
    "quota_pods": 10,
    "quota_services": 5,
    "quota_configmaps": 10,
    "quota_secrets": 10,
    "quota_pvcs": 2,
    "limit_cpu": "500m",
    "limit_memory": "256Mi",
    "request_cpu": "100m",
    "request_memory": "64Mi",
}


def context_of(host: Host) -> str:
    """The ``kube_context`` var, which this provider requires."""
    value = host.vars.get("kube_context")
    if not value:
        where = None
        if host.source is not None:
            where = Location(host.source.file, host.source.line, f"{host.name}.kube_context")
        raise ConfigError(
            msg("host {host}: provider context needs `kube_context`", host=host.name),
            location=where,
            hint=msg("set `kube_context: NAME` (see `kubectl config get-contexts -o name`)"),
        )
    return str(value)


def default_namespace(host: str) -> str:
    """``lab-<host>``; a host already called ``lab-07`` keeps its name (not ``lab-lab-07``)."""
    return host if host.startswith("lab-") else f"lab-{host}"


def namespace_of(host: Host) -> str:
    """The lab's namespace on this host (``namespace`` var, default ``lab-<host>``)."""
    return str(host.vars.get("namespace") or default_namespace(host.name))


def isolated(host: Host) -> bool:
    """Per-participant isolation: on unless the inventory sets ``isolation: false``."""
    return isolation_on(host, True)


def participant_context(host: Host) -> str:
    """The context name in the participant's kubeconfig: their namespace."""
    return namespace_of(host)


def namespace_exists(out: Output) -> bool:
    """Probe check for ``start``: ``get namespace`` found it."""
    return out.rc == 0


def namespace_absent(out: Output) -> bool:
    """Probe check for ``delete``: ``get namespace`` says NotFound (any other error is not done)."""
    return out.rc != 0 and "NotFound" in out.stderr


class ContextProvider:
    """Builds kubectl argv for an existing cluster: ``--context CTX -n NS`` on every call."""

    name = "context"
    description = "an existing cluster through a kubeconfig context; the lab runs in a namespace"
    has_minikube = False
    settings: Mapping[str, str] = {
        "kube_context": "(required)",
        "kubeconfig": "$KUBECONFIG",
        "namespace": "lab-<host>",
        "participants_dir": "runs/participants",
        **{key: str(value) for key, value in ISOLATION_DEFAULTS.items()},
    }
    optional_binaries: tuple[str, ...] = ()

    def defaults(self, host: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """On a shared cluster the lab gets its own namespace, ``lab-<host>``, never ``default``,
        and (isolation) a participant's account and quota sized for the lab."""
        return {"namespace": default_namespace(host), **ISOLATION_DEFAULTS}

    def binaries(self, host: Host) -> tuple[str, ...]:
        """Only kubectl."""
        return (binary_of(host, "kubectl"),)

    def fact_commands(self, host: Host) -> tuple[FactCommand, ...]:
        """The contexts of the kubeconfig (``kubectl config get-contexts -o name``)."""
        argv = [binary_of(host, "kubectl"), "config", "get-contexts", "-o", "name"]
        if host.vars.get("kubeconfig"):
            argv[1:1] = ["--kubeconfig", str(host.vars["kubeconfig"])]
        return (FactCommand("contexts", Command(tuple(argv))),)

    def preflight(self, host: Host, facts: Facts) -> list[PreflightProblem]:
        """The kubeconfig exists and has the context the inventory names."""
        return check_context(host, facts)

    def preflight_together(self, hosts: Sequence[Host], facts: Facts) -> list[PreflightProblem]:
        """Hosts on an existing cluster share nothing of this machine."""
        return []

    def lock_name(self, host: Host) -> str:
        """One run at a time per namespace of a cluster (context and kubeconfig)."""
        where = f"context {context_of(host)} ({kubeconfig_file(host)})"
        return f"namespace {namespace_of(host)} of {where}"

    def leftovers(self, host: Host) -> tuple[Leftover, ...]:
        """The cluster is not ours: nothing of labtools on this machine."""
        return ()

    def kubectl_base(self, host: Host) -> tuple[str, ...]:
        """The instructor's ``kubectl [--kubeconfig K] --context CTX`` (cluster-scoped calls)."""
        argv = [binary_of(host, "kubectl")]
        if host.vars.get("kubeconfig"):
            argv += ["--kubeconfig", str(host.vars["kubeconfig"])]
        return (*argv, "--context", context_of(host))

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """``kubectl --context CTX -n NS ARGS``; with isolation the participant's kubeconfig."""
        if isolated(host):
            context_of(host)  # the instructor's context is needed all the same: say so early
            kubeconfig = participant_kubeconfig(host)
            context = participant_context(host)
            base = (binary_of(host, "kubectl"), "--kubeconfig", kubeconfig, "--context", context)
            return (*base, "-n", namespace_of(host), *args)
        return (*self.kubectl_base(host), "-n", namespace_of(host), *args)

    def admin_kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """The instructor's ``kubectl --context CTX -n NS ARGS``, isolation or not."""
        return (*self.kubectl_base(host), "-n", namespace_of(host), *args)

    def admin_env(self, host: Host) -> dict[str, str]:
        """The instructor's ``kubeconfig`` (or the caller's own KUBECONFIG)."""
        return {"KUBECONFIG": str(host.vars["kubeconfig"])} if host.vars.get("kubeconfig") else {}

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """There is no minikube here: the runner skips minikube steps (see ``has_minikube``)."""
        raise ProviderError(
            NO_MINIKUBE, hint=msg("use provider minikube or fake for minikube steps")
        )

    def env(self, host: Host) -> dict[str, str]:
        """``KUBECONFIG``: the participant's with isolation, else the host's ``kubeconfig``."""
        if isolated(host):
            return {"KUBECONFIG": participant_kubeconfig(host)}
        return {"KUBECONFIG": str(host.vars["kubeconfig"])} if host.vars.get("kubeconfig") else {}

    def shell_env(self, host: Host) -> dict[str, str]:
        """The same ``KUBECONFIG`` the runner uses."""
        return self.env(host)

    def shell_commands(self, host: Host) -> dict[str, tuple[str, ...]]:
        """Nothing: kubectl is on PATH."""
        return {}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        """start/delete create/remove the lab namespace (a participant's place); no stop."""
        if isolated(host) and op in ("start", "delete"):
            return self.participant_op(host, op)
        namespace = namespace_of(host)
        probe = (*self.kubectl_base(host), "get", "namespace", namespace, "-o", "name")
        if op == "start":
            run = (*self.kubectl_base(host), "create", "namespace", namespace)
            return ClusterOp("start", probe, namespace_exists, run)
        if op == "delete":
            reason = self.delete_skip_reason(host, namespace)
            if reason:
                return ClusterOp("delete", skip_reason=reason)
            run = (*self.kubectl_base(host), "delete", "namespace", namespace, "--wait=true")
            return ClusterOp("delete", probe, namespace_absent, run, timeout=300.0)
        if op == "stop":
            reason = msg("provider context: the cluster is not ours to stop")
            return ClusterOp("stop", skip_reason=reason)
        if op == "status":
            return ClusterOp("status", probe, namespace_exists, probe)
        raise unknown_op(host, op)

    def participant_op(self, host: Host, op: str) -> ClusterOp:
        """Apply (start) or delete the participant's objects from ``templates/workshop/``."""
        admin = self.kubectl_base(host)
        env = self.admin_env(host)  # never the participant's KUBECONFIG
        if op == "start":
            return ClusterOp(
                "start",
                run=(*admin, "apply", "-f", "-"),
                manifests=WORKSHOP_TEMPLATES,
                changed_when=lambda out: applied_changes(out.stdout),
                credentials=self.credentials(host),
                env=env,
            )
        reason = self.delete_skip_reason(host, namespace_of(host))
        if reason:
            return ClusterOp("delete", skip_reason=reason)
        return ClusterOp(
            "delete",
            run=(*admin, "delete", "-f", "-", "--ignore-not-found", "--wait=true"),
            manifests=WORKSHOP_TEMPLATES,
            changed_when=lambda out: deleted_something(out.stdout),
            removes=(participant_kubeconfig(host),),
            env=env,
            timeout=300.0,
        )

    def credentials(self, host: Host) -> Credentials:
        """The participant's kubeconfig: a token of their ServiceAccount and the cluster's CA."""
        admin = self.kubectl_base(host)
        namespace = namespace_of(host)
        account = str(host.vars.get("participant_account") or "student")
        duration = str(host.vars.get("token_duration") or "8h")
        try:
            seconds = parse_duration(duration)
        except ConfigError as exc:
            raise ConfigError(
                msg("host {host}: {problem}", host=host.name, problem=exc.text),
                location=host.source,
                hint=exc.hint_text,
            ) from exc
        token = (*admin, "-n", namespace, "create", "token", account, f"--duration={duration}")
        jsonpath = "jsonpath={.clusters[0].cluster}"
        cluster = (*admin, "config", "view", "--minify", "--flatten", "--raw", "-o", jsonpath)
        return Credentials(
            path=participant_kubeconfig(host),
            token=token,
            cluster=cluster,
            context=participant_context(host),
            user=f"system:serviceaccount:{namespace}:{account}",
            namespace=namespace,
            account=account,
            duration=seconds,
        )

    def delete_skip_reason(self, host: Host, namespace: str) -> Text | None:
        """Why ``delete`` must not remove the namespace, or None."""
        if _truthy(host.vars.get("keep")):
            return msg(
                "keep: true for host {host} (namespace {namespace} kept)",
                host=host.name,
                namespace=namespace,
            )
        if namespace in SYSTEM_NAMESPACES:
            return msg(
                "namespace {namespace} belongs to the cluster; labtools does not delete it",
                namespace=namespace,
            )
        return None


def check_context(host: Host, facts: Facts) -> list[PreflightProblem]:
    """The kubeconfig exists and has the context the inventory names."""
    context = host.vars.get("kube_context")
    kubeconfig = host.vars.get("kubeconfig")
    if not context:
        message = msg("provider context needs `kube_context` for {where}", where=where(host))
        hint = msg("set it to one of `kubectl config get-contexts -o name`")
        return [PreflightProblem(host.name, "kube_context", message, hint)]
    if kubeconfig and facts.kubeconfig_exists is False:
        message = msg(
            "kubeconfig {kubeconfig} of {where} does not exist",
            kubeconfig=kubeconfig,
            where=where(host),
        )
        hint = msg("fix the `kubeconfig` path")
        return [PreflightProblem(host.name, "kubeconfig", message, hint)]
    if facts.contexts is not None and context not in facts.contexts:
        known = ", ".join(facts.contexts) or msg("none")
        message = msg(
            "context {context} of {where} is not in the kubeconfig {path} (it has: {known})",
            context=context,
            where=where(host),
            path=kubeconfig_file(host),
            known=known,
        )
        hint = msg(
            "fix `kube_context`, or point `kubeconfig` (or KUBECONFIG) at the file that has it"
        )
        return [PreflightProblem(host.name, "kube_context", message, hint)]
    return []


def kubeconfig_file(host: Host) -> str:
    """The kubeconfig kubectl reads for this host: its ``kubeconfig``, $KUBECONFIG or default."""
    if host.vars.get("kubeconfig"):
        return str(host.vars["kubeconfig"])
    return os.environ.get("KUBECONFIG") or "~/.kube/config"
