"""ServiceAccount kubeconfigs for tests: a TokenRequest token and the cluster's CA, as a workshop
participant gets them (`kubectl create token SA --duration`, never the legacy token Secret)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from labtools.testing.cluster import FakeCluster


class AccountKubectl:
    """The real kubectl with a kubeconfig that holds only a bearer token and the CA."""

    def __init__(self, cluster: FakeCluster, kubeconfig: Path, namespace: str) -> None:
        self.cluster = cluster
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl with this kubeconfig (its context's namespace is the SA's)."""
        env = self.cluster.env()
        env["KUBECONFIG"] = str(self.kubeconfig)
        return subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            input=stdin,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl, require exit 0, return stdout."""
        result = self(*args, stdin=stdin)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout


def token(cluster: FakeCluster, namespace: str, name: str, duration: str = "10m") -> str:
    """`kubectl create token NAME --duration D` as the admin."""
    result = cluster.kubectl("-n", namespace, "create", "token", name, f"--duration={duration}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def write_kubeconfig(cluster: FakeCluster, path: Path, bearer: str, namespace: str) -> Path:
    """A kubeconfig with the server, the cluster CA and a bearer token (mode 0600)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "workshop",
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority": str(cluster.workdir / "certs" / "ca.crt"),
                },
            }
        ],
        "users": [{"name": "participant", "user": {"token": bearer}}],
        "contexts": [
            {
                "name": "participant",
                "context": {"cluster": "workshop", "user": "participant", "namespace": namespace},
            }
        ],
        "current-context": "participant",
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def account(
    cluster: FakeCluster, tmp: Path, namespace: str, name: str, duration: str = "10m"
) -> AccountKubectl:
    """A kubectl acting as ServiceAccount NAMESPACE/NAME (the ServiceAccount must exist)."""
    bearer = token(cluster, namespace, name, duration)
    path = write_kubeconfig(cluster, tmp / f"{namespace}-{name}.kubeconfig", bearer, namespace)
    return AccountKubectl(cluster, path, namespace)
