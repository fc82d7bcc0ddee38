"""The ``fake`` provider: minikube's contract played by ``python -m labtools.testing.minikube``.

Its state (``MINIKUBE_HOME``), kubeconfig and kubectl's cache live under the project's
``.labtools/fake-minikube``, so rehearsing a lab never touches the user's real ``~/.minikube``,
``~/.kube/config`` or ``~/.kube/cache``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from labtools.core.model import Host
from labtools.providers.base import FactCommand, Facts, Leftover, PreflightProblem, binary_of
from labtools.providers.minikube import MinikubeProvider, profile_of

FAKE_MODULE = "labtools.testing.minikube"
FAKE_HOME = os.path.join(".labtools", "fake-minikube")


def fake_home(host: Host) -> str:
    """MINIKUBE_HOME: var ``fake_home``, else ``<project_root>/.labtools/fake-minikube``."""
    if host.vars.get("fake_home"):
        return os.path.abspath(str(host.vars["fake_home"]))
    root = str(host.vars.get("project_root") or os.getcwd())
    return os.path.abspath(os.path.join(root, FAKE_HOME))


def fake_kubeconfig(host: Host) -> str:
    """The kubeconfig the fake writes: var ``fake_kubeconfig``, else ``<fake_home>/kubeconfig``."""
    if host.vars.get("fake_kubeconfig"):
        return os.path.abspath(str(host.vars["fake_kubeconfig"]))
    return os.path.join(fake_home(host), "kubeconfig")


class FakeProvider(MinikubeProvider):
    """Like ``minikube`` but runs the fake minikube with its own home and kubeconfig."""

    name = "fake"
    description = "the fake cluster of labtools.testing, for rehearsing a lab without minikube"
    has_minikube = True
    settings: Mapping[str, str] = {
        **MinikubeProvider.settings,
        "fake_home": ".labtools/fake-minikube",
        "fake_kubeconfig": "<fake_home>/kubeconfig",
    }
    optional_binaries: tuple[str, ...] = ()

    def binaries(self, host: Host) -> tuple[str, ...]:
        """Only kubectl: the fake minikube is this Python."""
        return (binary_of(host, "kubectl"),)

    def fact_commands(self, host: Host) -> tuple[FactCommand, ...]:
        """Nothing beyond kubectl's version."""
        return ()

    def preflight(self, host: Host, facts: Facts) -> list[PreflightProblem]:
        """The fake needs no driver, CPU or memory of its own."""
        return []

    def preflight_together(self, hosts: Sequence[Host], facts: Facts) -> list[PreflightProblem]:
        """Fake clusters are small: nothing to add up."""
        return []

    def start_forks(self, host: Host) -> int:
        """A fake start is a Python process starting a server, CPU-bound: one per core.

        Measured (bench/bench_workshop.py, 8 profiles on 2 cores): 1 at a time 17.6 s, 2 at a
        time 7.9 s, 4 9.3 s, 8 8.0 s: past the cores nothing is gained.
        """
        if host.vars.get("start_forks"):
            return max(1, int(host.vars["start_forks"]))
        return max(1, os.cpu_count() or 1)

    def lock_name(self, host: Host) -> str:
        """One run at a time per fake profile (of one fake home)."""
        return f"fake profile {profile_of(host)} ({fake_home(host)})"

    def leftovers(self, host: Host) -> tuple[Leftover, ...]:
        """The fake home (its CA key, kubeconfig, kubectl cache): gone once no profile is left."""
        home = fake_home(host)
        # MINIKUBE_HOME not ending in .minikube gets /.minikube appended, as minikube does
        return (Leftover(home, os.path.join(home, ".minikube", "profiles", "*")),)

    def minikube_base(self, host: Host) -> tuple[str, ...]:
        """The argv that runs the fake minikube with this Python."""
        return (sys.executable, "-m", FAKE_MODULE)

    def shell_env(self, host: Host) -> dict[str, str]:
        """The fake's kubeconfig, minikube home and kubectl cache (all under ``.labtools/``)."""
        return {key: value for key, value in self.env(host).items() if key != "MINIKUBE_IN_STYLE"}

    def shell_commands(self, host: Host) -> dict[str, tuple[str, ...]]:
        """``minikube`` is the fake minikube run by this Python."""
        return {"minikube": self.minikube_base(host)}

    def env(self, host: Host) -> dict[str, str]:
        """MINIKUBE_HOME, KUBECONFIG and kubectl's cache inside the project's fake home.

        kubectl caches discovery per server (``~/.kube/cache/discovery/127.0.0.1_<port>``); a
        fake cluster gets a new port on every start, so without ``KUBECACHEDIR`` each start
        would leave another directory in the user's HOME.
        """
        home = fake_home(host)
        return {
            "MINIKUBE_IN_STYLE": "false",
            "MINIKUBE_HOME": home,
            "KUBECONFIG": self.own_kubeconfig(host) or fake_kubeconfig(host),
            "KUBECACHEDIR": os.path.join(home, "kube-cache"),
        }
