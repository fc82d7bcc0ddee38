"""pytest plugin: fixtures for a lab's hosts (clusters) and the app's pods, with pytest-testinfra.

Use it in your own CI: ``pytest -p labtools.verify.plugin --lab-inventory inventory.yml tests.py``.
Every option also reads an environment variable (``LABTOOLS_INVENTORY``, ``LABTOOLS_HOST``,
``LABTOOLS_VARS``, ``LABTOOLS_PROXY_URL``) so a runner can set them without touching argv.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from labtools.core.model import Host

OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--lab-inventory", "LABTOOLS_INVENTORY", "PATH", "the lab's inventory.yml"),
    ("--lab-hosts", "LABTOOLS_HOST", "PATTERN", "which hosts to check (--limit pattern)"),
    ("--lab-vars", "LABTOOLS_VARS", "JSON", "the lab's variables as a JSON object"),
    ("--lab-proxy-url", "LABTOOLS_PROXY_URL", "URL", "a running `kubectl proxy` to check"),
)
DEFAULT_APP = "kubernetes-bootcamp"
ENTRY_POINT = "labtools_verify"  # the pytest11 entry point of this module (pyproject.toml)
OVERLAY_KEYS = frozenset({"namespace", "project_root", "fake_home", "fake_kubeconfig"})
HOSTS_KEY = pytest.StashKey[list[Host]]()
SNAPSHOTS_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_plugin_registered(plugin: object, plugin_name: str, manager: Any) -> None:
    """Loaded by ``-p labtools.verify.plugin``: skip the same module's pytest11 entry point."""
    # pytest refuses one module under two names; `-p` is handled before entry points load
    if plugin is sys.modules[__name__] and plugin_name != ENTRY_POINT:
        manager.set_blocked(ENTRY_POINT)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --lab-* options."""
    group = parser.getgroup("labtools", "labtools lab verification")
    for flag, env, metavar, help_text in OPTIONS:
        group.addoption(flag, metavar=metavar, default=None, help=f"{help_text} (env {env})")


def option(config: pytest.Config, flag: str) -> str | None:
    """An option's value, falling back to its environment variable."""
    value = config.getoption(flag.lstrip("-").replace("-", "_"))
    env = next(e for f, e, _, _ in OPTIONS if f == flag)
    return str(value) if value is not None else os.environ.get(env) or None


def read_lab_vars(config: pytest.Config) -> dict[str, Any]:
    """The --lab-vars JSON object (empty when not given)."""
    text = option(config, "--lab-vars")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise pytest.UsageError(f"--lab-vars is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise pytest.UsageError("--lab-vars must be a JSON object, e.g. '{\"replicas\": 2}'")
    return value


def selected_hosts(config: pytest.Config) -> list[Host]:
    """The inventory hosts the checks run against (loaded once per session)."""
    if HOSTS_KEY in config.stash:
        return config.stash[HOSTS_KEY]
    from labtools.core.errors import LabError
    from labtools.core.inventory import load_inventory, select_hosts

    path = option(config, "--lab-inventory")
    if not path:
        raise pytest.UsageError("these checks need --lab-inventory PATH (or LABTOOLS_INVENTORY)")
    try:
        hosts = select_hosts(load_inventory(path), option(config, "--lab-hosts"))
    except LabError as exc:
        raise pytest.UsageError(exc.format()) from exc
    # the runner passes each host's merged vars: these decide where the provider's cluster is
    overlay = {k: v for k, v in read_lab_vars(config).items() if k in OVERLAY_KEYS}
    hosts = [Host(h.name, h.provider, {**h.vars, **overlay}, h.groups, h.source) for h in hosts]
    config.stash[HOSTS_KEY] = hosts
    return hosts


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses ``lab_host`` once per selected host."""
    if "lab_host" in metafunc.fixturenames:
        hosts = selected_hosts(metafunc.config)
        metafunc.parametrize("lab_host", hosts, ids=[h.name for h in hosts], scope="session")


def provider_of(host: Host) -> Any:
    """The host's provider (``auto`` resolved the same way the runner does)."""
    from labtools.providers import provider_for

    return provider_for(host)[0]


@pytest.fixture(scope="session")
def lab_vars(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The lab's variables (from --lab-vars)."""
    return read_lab_vars(pytestconfig)


@pytest.fixture(scope="session")
def lab_hosts(pytestconfig: pytest.Config) -> list[Host]:
    """The selected inventory hosts."""
    return selected_hosts(pytestconfig)


@pytest.fixture(scope="session")
def lab_proxy_url(pytestconfig: pytest.Config) -> str | None:
    """The URL of a running ``kubectl proxy`` (--lab-proxy-url), or None."""
    url = option(pytestconfig, "--lab-proxy-url")
    # a service's registered url may be its readiness URL (.../version): the checks add the path
    return url.rstrip("/").removesuffix("/version") if url else None


@pytest.fixture(scope="session")
def lab_env(lab_host: Host) -> dict[str, str]:
    """The environment the host's kubectl needs (KUBECONFIG...)."""
    return dict(provider_of(lab_host).env(lab_host))


@pytest.fixture(scope="session")
def kubectl(lab_host: Host) -> tuple[str, ...]:
    """The kubectl argv prefix for the host (``kubectl --context CTX [-n NS]``)."""
    return tuple(provider_of(lab_host).kubectl(lab_host, ()))


@pytest.fixture(scope="session")
def lab_namespace(lab_host: Host, lab_vars: Mapping[str, Any]) -> str:
    """The namespace the lab runs in on this host."""
    return str(lab_vars.get("namespace") or lab_host.vars.get("namespace") or "default")


@pytest.fixture
def cluster(
    pytestconfig: pytest.Config,
    lab_host: Host,
    kubectl: tuple[str, ...],
    lab_namespace: str,
    lab_env: dict[str, str],
) -> Any:
    """A Snapshot of the host's cluster, taken once per session (``.refresh()`` for a new one)."""
    from labtools.verify.snapshot import Snapshot

    cache = pytestconfig.stash.setdefault(SNAPSHOTS_KEY, {})
    if lab_host.name not in cache:
        cache[lab_host.name] = Snapshot.take(kubectl, lab_namespace, env=lab_env)
    return cache[lab_host.name]


@pytest.fixture
def app_name(lab_vars: Mapping[str, Any]) -> str:
    """The lab's app (lab var ``app_name``)."""
    return str(lab_vars.get("app_name") or DEFAULT_APP)


@pytest.fixture
def app_pods(cluster: Any, app_name: str) -> list[dict[str, Any]]:
    """The app's pods (label ``app=<app_name>``), as kubectl returned them."""
    return list(cluster.pods({"app": app_name}))


def context_in(prefix: tuple[str, ...]) -> str | None:
    """The ``--context`` value of a kubectl argv prefix."""
    if "--context" in prefix:
        return prefix[prefix.index("--context") + 1]
    return next((a.split("=", 1)[1] for a in prefix if a.startswith("--context=")), None)


@pytest.fixture
def app_pod_name(app_pods: list[dict[str, Any]], app_name: str, lab_namespace: str) -> str:
    """The name of the first Running app pod (fails when there is none)."""
    from labtools.verify.snapshot import name_of

    running = [p for p in app_pods if p.get("status", {}).get("phase") == "Running"]
    if not running:
        pytest.fail(f"no Running pod of {app_name} in namespace {lab_namespace}")
    return name_of(running[0])


@pytest.fixture
def app_pod_host(
    app_pod_name: str, kubectl: tuple[str, ...], lab_namespace: str, lab_env: dict[str, str]
) -> Iterator[Any]:
    """A testinfra host inside the first Running app pod (``kubectl://POD?namespace=..``)."""
    import testinfra

    spec = f"kubectl://{app_pod_name}?namespace={lab_namespace}"
    context = context_in(kubectl)
    if context:
        spec += f"&context={context}"
    # testinfra runs `kubectl exec` with our environment: the host's KUBECONFIG must be in it
    with pytest.MonkeyPatch.context() as patch:
        for key, value in lab_env.items():
            patch.setenv(key, value)
        yield testinfra.get_host(spec)
