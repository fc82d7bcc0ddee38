"""A workshop on one training machine (host mode): one fake minikube profile per participant,
each with its own KUBECONFIG file, started in parallel; `lab.reset --limit` redoes one of them."""

from __future__ import annotations

import itertools
import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import (
    LabProject,
    copy_project,
    isolated_env,
    kill_processes_mentioning,
)
from tests.integration.test_lab_e2e import recap_row

pytestmark = [pytest.mark.fake, pytest.mark.slow]

HOSTS = ["lab-01", "lab-02", "lab-03", "lab-04"]


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[LabProject]:
    """The project with four participants on the fake minikube, isolation on."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: fake\n    isolation: true\n"
        "  children:\n    workshop:\n      hosts:\n        lab-[01:04]:\n"
    )
    project = LabProject(root, isolated_env(tmp_path))
    try:
        yield project
    finally:
        project.invoke("lab.down", "--forks", "4", timeout=300)
        kill_processes_mentioning(str(tmp_path))


def contexts(path: Path) -> list[str]:
    """The context names of a kubeconfig file."""
    doc = yaml.safe_load(path.read_text()) or {}
    return [c["name"] for c in doc.get("contexts") or []]


def server_of(path: Path) -> str:
    """The API server a kubeconfig points at."""
    return str(yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"])


def starts(journal: list[dict[str, object]]) -> dict[str, tuple[float, float]]:
    """When each host's `minikube start` began and ended."""
    began = {
        str(e["host"]): float(str(e["time"]))
        for e in journal
        if e["kind"] == "step_start" and e["step"] == "minikube start"
    }
    ended = {
        str(e["host"]): float(str(e["time"]))
        for e in journal
        if e["kind"] == "step_end" and e["step"] == "minikube start"
    }
    return {host: (began[host], ended[host]) for host in began}


def test_four_profiles_in_parallel_then_reset_one(machine: LabProject) -> None:
    up = machine.invoke("lab.up", "--forks", "4")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr
    assert "4/4 ready" in up.stdout
    folder = machine.root / "runs" / "participants"
    files = {host: folder / f"{host}.kubeconfig" for host in HOSTS}
    for host, path in files.items():
        assert contexts(path) == [host], host  # its own file, with its own context only
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, oct(path.stat().st_mode)
        # current there: a participant's `export KUBECONFIG=FILE; kubectl get pods` just works
        assert yaml.safe_load(path.read_text())["current-context"] == host
    plain = subprocess.run(
        ["kubectl", "get", "pods", "-o", "name"],
        # the participant's own kubectl caches discovery in their HOME: here not in the suite's
        env={
            **machine.env,
            "KUBECONFIG": str(files["lab-03"]),
            "KUBECACHEDIR": str(machine.root / "participant-kube-cache"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("pod/kubernetes-bootcamp-"), plain.stdout
    # never the user's kubeconfig, nor the fake's shared one
    assert not Path(machine.env["KUBECONFIG"]).exists()
    shared = machine.root / ".labtools" / "fake-minikube" / "kubeconfig"
    assert not shared.exists() or contexts(shared) == []
    # the starts ran side by side (two at a time on two cores: start_forks)
    spans = sorted(starts(machine.journal()).values())
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))

    before = {host: server_of(path) for host, path in files.items()}
    pods_before = machine_pods(machine)
    reset = machine.invoke("lab.reset", "--limit", "lab-02", "--forks", "4")
    assert reset.returncode == 0, reset.stdout[-3000:] + reset.stderr
    assert "1/1 ready" in reset.stdout
    recap_row(reset.stdout, "lab-02")
    with pytest.raises(AssertionError):
        recap_row(reset.stdout, "lab-01")
    ends = [e for e in machine.journal() if e["kind"] == "step_end"]
    assert {e["host"] for e in ends} == {"lab-02"}
    assert next(e["phase"] for e in ends) == "teardown"
    after = {host: server_of(path) for host, path in files.items()}
    assert {h for h in HOSTS if after[h] != before[h]} == {"lab-02"}  # a new cluster
    pods_after = machine_pods(machine)
    assert {h for h in HOSTS if pods_after[h] != pods_before[h]} == {"lab-02"}

    down = machine.invoke("lab.down", "--forks", "4")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr
    assert not folder.exists()


def machine_pods(machine: LabProject) -> dict[str, str]:
    """Each host's app pod name, read from the run journals' POD_NAME results."""
    found: dict[str, str] = {}
    for journal in sorted((machine.root / "runs").glob("*/journal.jsonl")):
        for line in journal.read_text().splitlines():
            record = json.loads(line)
            if record.get("kind") == "step_end" and record.get("step") == "POD_NAME":
                found[str(record["host"])] = str(record["result"]["stdout"]).strip()
    return found


def test_prepare_caches_every_image_the_lab_names(machine: LabProject) -> None:
    """`lab.prepare` on a training machine: `minikube start --download-only` once for the
    Kubernetes version, `minikube cache add` per image the plan names; an image the registry
    does not have fails the run (minikube itself only warns and exits 0), nothing is started."""
    from labtools.testing.apiserver.ctl_images import MISSING_IMAGES_ENV
    from labtools.testing.minikube.images import arch

    v1 = "gcr.io/google-samples/kubernetes-bootcamp:v1"
    v2 = "docker.io/jocatalin/kubernetes-bootcamp:v2"
    machine.env[MISSING_IMAGES_ENV] = v2
    failed = machine.invoke("lab.prepare")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = failed.stdout.splitlines()
    assert lines[0] == f"images the lab names (2): {v1}, {v2}"
    assert (
        "ok     minikube start --download-only (Kubernetes default version): * Download complete!"
        in lines
    )
    assert f"ok     minikube cache add {v1}" in lines
    assert (
        f"FAILED minikube cache add {v2}: The image '{v2}' was not found; unable to add it to "
        "cache." in lines
    )
    assert f"lab.prepare: 1 of 3 failed: minikube cache add {v2} (The image" in failed.stderr
    cache_line = next(line for line in lines if line.startswith("minikube cache "))
    cache = Path(cache_line.split()[2].rstrip(":"))
    tarball = cache / "images" / arch() / "gcr.io" / "google-samples" / "kubernetes-bootcamp_v1"
    assert tarball.is_file()
    config = json.loads((cache.parent / "config" / "config.json").read_text())
    assert set(config["cache"]) == {v1, v2}  # minikube records both; only v1 is cached
    # --download-only starts nothing: no API server mentions this project's minikube home
    assert not (cache.parent / "machines").exists()

    del machine.env[MISSING_IMAGES_ENV]
    again = machine.invoke("lab.prepare")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"ok     minikube cache add {v2}" in again.stdout.splitlines()
