"""The provider registry, the one place providers are named: minikube, context, fake (and auto).

Each provider owns its settings' defaults, the binaries it needs and its preflight checks
(``labtools.providers.base.Provider``); planning asks ``host_defaults`` for a host's defaults and
the application asks ``provider_for`` which provider object runs a host.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from typing import Any

from labtools.core.errors import ConfigError, Location
from labtools.core.messages import Msg, msg
from labtools.core.model import Host
from labtools.providers.base import ClusterOp, Provider
from labtools.providers.context import ContextProvider
from labtools.providers.fake import FakeProvider
from labtools.providers.minikube import MinikubeProvider

__all__ = [
    "AUTO",
    "REGISTRY",
    "ClusterOp",
    "Provider",
    "fake_banner",
    "get_provider",
    "host_defaults",
    "provider_for",
    "provider_names",
    "resolve_provider",
]

Which = Callable[[str], str | None]

REGISTRY: Mapping[str, Callable[[], Provider]] = {
    "minikube": MinikubeProvider,
    "context": ContextProvider,
    "fake": FakeProvider,
}
AUTO = "auto"
AUTO_DESCRIPTION = "minikube when the binary is on PATH, else fake (with a banner)"
DEFAULT_PROVIDER = AUTO


def provider_names() -> tuple[str, ...]:
    """Every name a host's ``provider`` may have."""
    return (*REGISTRY, AUTO)


def get_provider(name: str) -> Provider:
    """The provider called ``name`` (minikube, context, fake); ``auto`` must be resolved first."""
    if name in REGISTRY:
        return REGISTRY[name]()
    if name == AUTO:
        raise ConfigError(msg("provider auto must be resolved first (resolve_provider)"))
    raise unknown_provider(name)


def unknown_provider(name: str, location: Location | None = None) -> ConfigError:
    """The error for a provider name that is not registered."""
    from labtools.core.yamlfile import did_you_mean

    known = msg("use one of: {names}", names=", ".join(provider_names()))
    hint = did_you_mean(name, provider_names()) or known
    return ConfigError(msg("unknown provider {name!r}", name=name), location=location, hint=hint)


def host_defaults(host: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The provider settings a host gets where the lab and the inventory set nothing.

    ``auto`` becomes minikube or fake, which share minikube's defaults. Applied once, when the
    plan merges a host's variables, so an explicit setting always wins over a default.
    """
    name = str(variables.get("provider") or DEFAULT_PROVIDER)
    if name != AUTO and name not in REGISTRY:
        raise unknown_provider(name)
    provider = get_provider("minikube" if name == AUTO else name)
    # every host is a participant of its own (a workshop's display name; participants.csv)
    return {"provider": name, "participant": host, **provider.defaults(host, variables)}


def fake_banner(host: Host) -> Msg:
    """The loud text shown when ``auto`` falls back to the fake cluster."""
    binary = host.vars.get("minikube_bin") or "minikube"
    return msg(
        "!!! host {host}: {binary} is not on PATH, so provider auto uses the FAKE cluster "
        "(labtools.testing): nothing runs on a real Kubernetes. Install minikube "
        "({url}) or set provider: fake to silence this. !!!",
        host=host.name,
        binary=binary,
        url="https://minikube.sigs.k8s.io/docs/start/",
    )


def resolve_provider(host: Host, which: Which = shutil.which) -> tuple[str, Msg | None]:
    """The concrete provider name for a host and, when ``auto`` fell back to fake, a banner."""
    if host.provider != AUTO:
        return host.provider, None
    binary = str(host.vars.get("minikube_bin") or "minikube")
    if which(binary):
        return "minikube", None
    return "fake", fake_banner(host)


def provider_for(host: Host, which: Which = shutil.which) -> tuple[Provider, Msg | None]:
    """The provider object for a host (``auto`` resolved) and the fallback banner, if any."""
    name, banner = resolve_provider(host, which)
    return get_provider(name), banner
