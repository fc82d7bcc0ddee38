"""The extended part of the Basics lab (modules 4-6) through `invoke`, on the fake minikube.

`minikube service --url` prints `http://127.0.0.1:<nodePort>` and the lab's curl reaches the app
through the fake API server's node port forwarding.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import REPO, LabProject, wait_until_gone

pytestmark = [pytest.mark.fake, pytest.mark.slow]

HELLO = r"Hello Kubernetes bootcamp! \| Running on: kubernetes-bootcamp-\w+-\w{5} \| v=1"


def extended_steps() -> list[str]:
    """Names of the playbook's steps tagged `extended`, in order."""
    doc = yaml.safe_load((REPO / "playbooks" / "basics" / "playbook.yml").read_text())
    phases = [v for v in doc.values() if isinstance(v, list)]
    return [s["name"] for steps in phases for s in steps if "extended" in (s.get("tags") or [])]


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(
    "commands",
    [
        [("lab.up", "--tags", "all,extended")],  # the whole lab with modules 4-6
        [("lab.up",), ("lab.explore", "--tags", "extended")],  # modules 4-6 on a running lab
    ],
    ids=["up-all-and-extended", "explore-extended-after-up"],
)
def test_extended_steps_reach_the_app_through_the_node_port(
    minikube_project: LabProject, tmp_path: Path, commands: list[tuple[str, ...]]
) -> None:
    project = minikube_project
    names = extended_steps()
    assert len(names) >= 10
    for command in commands:
        up = project.invoke(*command)
        assert up.returncode == 0, up.stdout + up.stderr
    ends = {e["step"]: e["result"] for e in project.journal() if e["kind"] == "step_end"}
    failed = {n: r for n, r in ends.items() if r["status"] not in ("ok", "changed")}  # type: ignore[index]
    assert [n for n in names if n not in ends or n in failed] == [], up.stdout + up.stderr
    assert up.returncode == 0, up.stdout + up.stderr

    node_port = ends["NODE_PORT"]["stdout"].strip().strip("'")  # type: ignore[index]
    url = ends["minikube service --url"]["stdout"].strip()  # type: ignore[index]
    assert url == f"http://127.0.0.1:{node_port}"
    assert re.fullmatch(HELLO + r"\n?", ends["curl the service"]["stdout"])  # type: ignore[index]
    assert not refused(int(node_port))

    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert refused(int(node_port))
    assert wait_until_gone(str(tmp_path)) == []
