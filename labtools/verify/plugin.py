"""pytest plugin: fixtures for a lab's hosts (clusters) and the app's pods, with pytest-testinfra.

Use it in your own CI, from the project root, as ``lab.verify`` does:

    pytest -p labtools.verify.plugin --lab basics --lab-inventory inventory.yml \\
        playbooks/basics/checks/test_basics.py

With ``--lab`` the plugin loads the same project and plan as a run (``labtools.app``): each host's
variables (``lab_vars``) are the run's own (provider defaults < lab vars < inventory < ``--set``,
given here as ``--lab-set``), without the lab's ``secrets:``. Without ``--lab`` the checks get the
inventory's hosts and their variables. Options also read environment variables (``LABTOOLS_LAB``,
``LABTOOLS_INVENTORY``, ``LABTOOLS_HOSTS``, ``LABTOOLS_ROOT``, ``LABTOOLS_PROXY_URL``).
Checks of several hosts run in one session: every ``lab_host`` test is parametrized per host.

PYTEST_DONT_REWRITE: the plugin has no asserts of its own, and a run's checks process imports it
before pytest starts (``labtools.verify.warm``); the checks' own modules are rewritten as usual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from labtools.core.model import Host

if TYPE_CHECKING:
    from labtools.app import CheckTarget

OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--lab", "LABTOOLS_LAB", "NAME", "the lab (playbooks/NAME/) whose variables the checks get"),
    ("--lab-inventory", "LABTOOLS_INVENTORY", "PATH", "the inventory (default: inventory.yml)"),
    ("--lab-hosts", "LABTOOLS_HOSTS", "PATTERN", "which hosts to check (a --limit pattern)"),
    ("--lab-root", "LABTOOLS_ROOT", "DIR", "the project root (default: the current directory)"),
    ("--lab-proxy-url", "LABTOOLS_PROXY_URL", "URL", "a running `kubectl proxy` to check"),
)
PROXY_HELP = "; HOST=URL: that host's proxy (repeatable: one per host)"
HOST_PROPERTY = "lab_host"  # a test's host, in its JUnit <properties> (split per host by labtools)
DEFAULT_APP = "kubernetes-bootcamp"
ENTRY_POINT = "labtools_verify"  # the pytest11 entry point of this module (pyproject.toml)
TARGETS_KEY = pytest.StashKey[dict[str, "CheckTarget"]]()
SNAPSHOTS_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_plugin_registered(plugin: object, plugin_name: str, manager: Any) -> None:
    """Loaded by ``-p labtools.verify.plugin``: skip the same module's pytest11 entry point."""
    # pytest refuses one module under two names; `-p` is handled before entry points load
    if plugin is sys.modules[__name__] and plugin_name != ENTRY_POINT:
        manager.set_blocked(ENTRY_POINT)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --lab* options."""
    group = parser.getgroup("labtools", "labtools lab verification")
    for flag, env, metavar, help_text in OPTIONS:
        if flag == "--lab-proxy-url":
            help_text += PROXY_HELP
        repeatable = {"action": "append"} if flag == "--lab-proxy-url" else {}
        group.addoption(
            flag, metavar=metavar, default=None, help=f"{help_text} (env {env})", **repeatable
        )
    group.addoption(
        "--lab-set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="an extra variable, as `invoke lab.up --set` (repeatable)",
    )


def option(config: pytest.Config, flag: str) -> str | None:
    """An option's value, falling back to its environment variable."""
    value = config.getoption(flag.lstrip("-").replace("-", "_"))
    env = next(e for f, e, _, _ in OPTIONS if f == flag)
    return str(value) if value is not None else os.environ.get(env) or None


def proxy_urls(config: pytest.Config) -> dict[str | None, str]:
    """The ``--lab-proxy-url`` values by host: ``HOST=URL`` for one host, a bare URL (key None)
    for every host; the environment variable when the option is not given."""
    values = config.getoption("lab_proxy_url") or []
    if not values and os.environ.get("LABTOOLS_PROXY_URL"):
        values = [os.environ["LABTOOLS_PROXY_URL"]]
    found: dict[str | None, str] = {}
    for value in values:
        host, sep, url = str(value).partition("=")
        if sep and host and not any(c in host for c in ":/?"):  # a host name, not a URL's query
            found[host] = url
        else:
            found[None] = str(value)
    return found


def pytest_configure(config: pytest.Config) -> None:
    """Load the lab now when it is asked for, so a mistake is a usage error before collection.

    Asked for: ``-p labtools.verify.plugin``, ``--lab`` or ``--lab-inventory``. Merely installed
    (the pytest11 entry point, in any project's test run), it waits until a test uses a host.
    """
    named = config.pluginmanager.get_plugin(__name__) is sys.modules[__name__]
    if named or any(option(config, flag) for flag in ("--lab", "--lab-inventory")):
        targets(config)


def load_targets(config: pytest.Config) -> dict[str, CheckTarget]:
    """The hosts of the lab (or the inventory), by name; a LabError becomes a usage error."""
    from labtools.app import check_targets
    from labtools.core.errors import LabError
    from labtools.core.options import RunOptions, parse_typed_sets

    root = Path(option(config, "--lab-root") or os.getcwd())
    try:
        options = RunOptions(
            lab=option(config, "--lab"),
            inventory=option(config, "--lab-inventory"),
            limit=option(config, "--lab-hosts"),
            extra_vars=parse_typed_sets(config.getoption("lab_set") or []),
        )
        found = {t.host.name: t for t in check_targets(root, options)}
    except LabError as exc:
        where = f"(project root {root}: pass --lab-root, --lab-inventory and --lab)"
        raise pytest.UsageError(f"{exc.format()}\n  {where}") from exc
    return found


def targets(config: pytest.Config) -> dict[str, CheckTarget]:
    """The hosts the checks run against, by name (loaded once per session)."""
    if TARGETS_KEY not in config.stash:
        config.stash[TARGETS_KEY] = load_targets(config)
    return config.stash[TARGETS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses ``lab_host`` once per selected host."""
    if "lab_host" in metafunc.fixturenames:
        try:
            found = targets(metafunc.config)
        except pytest.UsageError as exc:  # no --lab/--lab-inventory: found out while collecting
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
        hosts = [target.host for target in found.values()]
        metafunc.parametrize("lab_host", hosts, ids=[h.name for h in hosts], scope="session")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what the start built (modules, the lab, the items) out of the garbage collector.

    pytest's unraisableexception plugin runs full collections at the end of the session, and
    Python one more at exit: each walks every object of the start (~30 ms each here). Objects
    the checks create stay collectable, so an exception in a ``__del__`` is still reported.
    Not inside another pytest's test (an in-process run): its heap is not ours to freeze.
    """
    if not os.environ.get("PYTEST_CURRENT_TEST"):
        import gc

        gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Name each test's host in its JUnit properties: one session checks several hosts, and
    labtools splits the JUnit file into one per host by this property."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("lab_host") if callspec is not None else None
        if isinstance(host, Host):
            item.user_properties.append((HOST_PROPERTY, host.name))


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> None:
    """A fixture of the checks' own (not this plugin's or pytest's) may change the cluster: the
    snapshot reads started when the checks started are no longer the state it leaves."""
    module = getattr(fixturedef.func, "__module__", None) or ""
    if module != __name__ and module.split(".")[0] != "_pytest":
        from labtools.verify.snapshot import discard

        discard()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A check runs: from here on a snapshot is read when it is asked for (see above)."""
    from labtools.verify.snapshot import discard

    discard()


def target_of(config: pytest.Config, host: Host) -> CheckTarget:
    """The check target of a host."""
    return targets(config)[host.name]


@pytest.fixture(scope="session")
def lab_hosts(pytestconfig: pytest.Config) -> list[Host]:
    """The selected inventory hosts (their variables merged as the run merges them)."""
    return [target.host for target in targets(pytestconfig).values()]


@pytest.fixture(scope="session")
def lab_vars(pytestconfig: pytest.Config, lab_host: Host) -> Mapping[str, Any]:
    """The host's variables as the run has them (no secrets, no registered results)."""
    return target_of(pytestconfig, lab_host).vars


@pytest.fixture(scope="session")
def lab_proxy_url(pytestconfig: pytest.Config, lab_host: Host) -> str | None:
    """The URL of the host's running ``kubectl proxy`` (--lab-proxy-url), or None."""
    urls = proxy_urls(pytestconfig)
    url = urls.get(lab_host.name, urls.get(None))
    # a service's registered url may be its readiness URL (.../version): the checks add the path
    return url.rstrip("/").removesuffix("/version") if url else None


@pytest.fixture(scope="session")
def lab_env(pytestconfig: pytest.Config, lab_host: Host) -> dict[str, str]:
    """The environment the host's kubectl needs (KUBECONFIG...)."""
    return dict(target_of(pytestconfig, lab_host).provider.env(lab_host))


@pytest.fixture(scope="session")
def kubectl(pytestconfig: pytest.Config, lab_host: Host) -> tuple[str, ...]:
    """The kubectl argv prefix for the host (``kubectl --context CTX [-n NS]``)."""
    return tuple(target_of(pytestconfig, lab_host).provider.kubectl(lab_host, ()))


@pytest.fixture(scope="session")
def lab_namespace(lab_vars: Mapping[str, Any]) -> str:
    """The namespace the lab runs in on this host."""
    return str(lab_vars.get("namespace") or "default")


@pytest.fixture
def cluster(pytestconfig: pytest.Config, lab_host: Host) -> Any:
    """A Snapshot of the host's cluster, taken once per session (``.refresh()`` for a new one).

    The first host's request takes the snapshots of every selected host at once (one
    ``kubectl get`` each, in parallel): a session that checks 30 hosts waits for one call, not 30.
    """
    cache = pytestconfig.stash.setdefault(SNAPSHOTS_KEY, {})
    if lab_host.name not in cache:
        hosts = [t.host for t in targets(pytestconfig).values() if t.host.name not in cache]
        cache.update(take_snapshots(pytestconfig, hosts or [lab_host]))
    found = cache[lab_host.name]
    if isinstance(found, Exception):  # this host's cluster did not answer: its tests fail
        raise found
    return found


def snapshot_call(target: CheckTarget) -> tuple[tuple[str, ...], str, dict[str, str]]:
    """How a host's snapshot is read: the kubectl prefix, the namespace and the environment
    (the checks' own read and the warm checks process's prefetch must be the same call)."""
    prefix = tuple(target.provider.kubectl(target.host, ()))
    namespace = str(target.vars.get("namespace") or "default")
    return prefix, namespace, dict(target.provider.env(target.host))


def take_snapshots(config: pytest.Config, hosts: list[Host]) -> dict[str, Any]:
    """A Snapshot (or the error taking it) per host, the kubectl calls running in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    from labtools.verify.snapshot import Snapshot

    def take(host: Host) -> Any:
        prefix, namespace, env = snapshot_call(target_of(config, host))
        try:
            return Snapshot.take(prefix, namespace, env=env)
        except Exception as exc:  # kept for the host's own tests to raise
            return exc

    with ThreadPoolExecutor(max_workers=min(16, max(1, len(hosts)))) as pool:
        return dict(zip((h.name for h in hosts), pool.map(take, hosts), strict=True))


@pytest.fixture
def kubectl_json(
    kubectl: tuple[str, ...], lab_env: dict[str, str]
) -> Callable[..., dict[str, Any]]:
    """``kubectl_json("get", "configmap", "x")``: one kubectl call on the host, its JSON output."""
    import json

    from labtools.verify.snapshot import run_kubectl

    def call(*args: str, timeout: float = 60.0) -> dict[str, Any]:
        value = json.loads(run_kubectl((*kubectl, *args, "-o", "json"), lab_env, timeout))
        return dict(value)

    return call


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
    """The name of the first Running app pod not being deleted (fails when there is none)."""
    from labtools.verify.snapshot import name_of

    running = [
        p
        for p in app_pods
        if p.get("status", {}).get("phase") == "Running"
        and not p.get("metadata", {}).get("deletionTimestamp")
    ]
    if not running:
        pytest.fail(f"no Running pod of {app_name} in namespace {lab_namespace}")
    return name_of(running[0])


@pytest.fixture
def current_app_pods(cluster: Any, app_name: str) -> list[dict[str, Any]]:
    """The app's Running pods that are not being deleted (after a rollout: the new ones)."""
    return [
        pod
        for pod in cluster.pods({"app": app_name})
        if pod.get("status", {}).get("phase") == "Running"
        and not pod.get("metadata", {}).get("deletionTimestamp")
    ]


@pytest.fixture
def app_pod_hosts(
    current_app_pods: list[dict[str, Any]],
    kubectl: tuple[str, ...],
    lab_namespace: str,
    lab_env: dict[str, str],
) -> Iterator[dict[str, Any]]:
    """A testinfra host inside every current app pod, by pod name."""
    from labtools.verify.snapshot import name_of

    names = [name_of(pod) for pod in current_app_pods]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in lab_env.items():
            patch.setenv(key, value)
        yield {name: _testinfra_host(name, kubectl, lab_namespace) for name in names}


def _testinfra_host(pod: str, kubectl: tuple[str, ...], namespace: str) -> Any:
    """``testinfra.get_host("kubectl://POD?namespace=NS&context=CTX")``."""
    import testinfra

    spec = f"kubectl://{pod}?namespace={namespace}"
    context = context_in(kubectl)
    if context:
        spec += f"&context={context}"
    return testinfra.get_host(spec)


@pytest.fixture
def app_pod_host(
    app_pod_name: str, kubectl: tuple[str, ...], lab_namespace: str, lab_env: dict[str, str]
) -> Iterator[Any]:
    """A testinfra host inside the first Running app pod (``kubectl://POD?namespace=..``)."""
    # testinfra runs `kubectl exec` with our environment: the host's KUBECONFIG must be in it
    with pytest.MonkeyPatch.context() as patch:
        for key, value in lab_env.items():
            patch.setenv(key, value)
        yield _testinfra_host(app_pod_name, kubectl, lab_namespace)
