"""Providers build the kubectl/minikube argv of a host: minikube, context, fake (auto picks)."""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Callable

from labtools.core.errors import ConfigError
from labtools.core.model import Host
from labtools.providers.base import ClusterOp, ProcOutput, Provider, ProviderInfo

__all__ = [
    "ClusterOp",
    "ProcOutput",
    "Provider",
    "ProviderInfo",
    "fake_banner",
    "get_provider",
    "provider_for",
    "provider_infos",
    "resolve_provider",
]

Which = Callable[[str], str | None]

PROVIDER_INFOS: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        "minikube",
        "a local minikube cluster per host (one profile each)",
        {"profile": "host name", "driver": "auto", "cpus": "-", "memory": "-", "keep": "false"},
    ),
    ProviderInfo(
        "context",
        "an existing cluster through a kubeconfig context; the lab runs in namespace lab-<host>",
        {"kube_context": "(required)", "kubeconfig": "$KUBECONFIG", "namespace": "lab-<host>"},
    ),
    ProviderInfo(
        "fake",
        "the fake cluster of labtools.testing, for rehearsing a lab without minikube",
        {"fake_home": ".labtools/fake-minikube", "fake_kubeconfig": "<fake_home>/kubeconfig"},
    ),
    ProviderInfo("auto", "minikube when the binary is on PATH, else fake (with a banner)"),
)


def get_provider(name: str) -> Provider:
    """The provider called ``name`` (minikube, context, fake); ``auto`` must be resolved first."""
    from labtools.providers.context import ContextProvider
    from labtools.providers.fake import FakeProvider
    from labtools.providers.minikube import MinikubeProvider

    providers: dict[str, Callable[[], Provider]] = {
        "minikube": MinikubeProvider,
        "context": ContextProvider,
        "fake": FakeProvider,
    }
    if name in providers:
        return providers[name]()
    if name == "auto":
        hint = "call resolve_provider(host)"
        raise ConfigError("provider auto must be resolved first", hint=hint)
    close = difflib.get_close_matches(name, [*providers, "auto"], n=1)
    hint = f"did you mean {close[0]!r}?" if close else "use minikube, context, fake or auto"
    raise ConfigError(f"unknown provider {name!r}", hint=hint)


def fake_banner(host: Host) -> str:
    """The loud text shown when ``auto`` falls back to the fake cluster."""
    binary = host.vars.get("minikube_bin") or "minikube"
    return (
        f"!!! host {host.name}: {binary} is not on PATH, so provider auto uses the FAKE cluster "
        "(labtools.testing): nothing runs on a real Kubernetes. Install minikube "
        "(https://minikube.sigs.k8s.io/docs/start/) or set provider: fake to silence this. !!!"
    )


def resolve_provider(host: Host, which: Which = shutil.which) -> tuple[str, str | None]:
    """The concrete provider name for a host and, when ``auto`` fell back to fake, a banner."""
    if host.provider != "auto":
        return host.provider, None
    binary = str(host.vars.get("minikube_bin") or "minikube")
    if which(binary):
        return "minikube", None
    return "fake", fake_banner(host)


def provider_for(host: Host, which: Which = shutil.which) -> tuple[Provider, str | None]:
    """The provider object for a host (``auto`` resolved) and the fallback banner, if any."""
    name, banner = resolve_provider(host, which)
    return get_provider(name), banner


def provider_infos() -> tuple[ProviderInfo, ...]:
    """What ``lab.list`` shows about the providers."""
    return PROVIDER_INFOS
