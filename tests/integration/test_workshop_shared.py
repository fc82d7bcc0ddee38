"""A workshop on ONE shared cluster (provider `context`, isolation on): 30 participants.

`invoke lab.up` provisions each participant (namespace, ServiceAccount, Role, quota, a kubeconfig
with a TokenRequest token) and runs the Basics lab AS each of them; a participant's kubeconfig is
Forbidden next door with the real API server's text; `lab.down` leaves nothing behind.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtools.core.kubeconfig import kubeconfig_token
from tests.integration.chromium import chromium, open_page, pdf_pages
from tests.integration.helpers import (
    LabProject,
    copy_project,
    isolated_env,
    kill_processes_mentioning,
    wait_until_gone,
)
from tests.integration.test_lab_e2e import recap_row

pytestmark = [pytest.mark.fake, pytest.mark.slow]

PARTICIPANTS = [f"lab-{i:02d}" for i in range(1, 31)]
LABELLED = "namespaces,clusterroles,clusterrolebindings"
CARD_URL = "https://labs.example.org/"


def participants_csv() -> str:
    """Names for the first 28 hosts; lab-29 and lab-30 keep their host names."""
    rows = [f"Participant {i:02d},lab-{i:02d}" for i in range(1, 29)]
    return "name,host\n" + "\n".join(rows) + "\n"


@pytest.fixture
def workshop(tmp_path: Path) -> Iterator[tuple[LabProject, Any]]:
    """The project with 30 participants on one fake API server (forks 10)."""
    from labtools.testing.cluster import FakeCluster

    # the kubelet's image back-off (10 s, 20 s, 40 s...) at a tenth: a cleared fault heals soon
    cluster = FakeCluster(
        tmp_path / "cluster",
        name="training",
        pod_ready_delay=0.3,
        extra_args=["--backoff-scale", "0.1"],
    ).start()
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "participants.csv").write_text(participants_csv())
    (root / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n"
        f"    kube_context: {cluster.context}\n    kubeconfig: {cluster.kubeconfig}\n"
        "    participants_file: participants.csv\n    token_duration: 2h\n"
        f"    card_url: '{CARD_URL}{{{{ participant | urlencode }}}}'\n"
        "  children:\n    workshop:\n      hosts:\n        lab-[01:30]:\n"
        # lab-07's wait gives up sooner (a host var beats the lab's wait_timeout: 300)
        "    impatient:\n      hosts:\n        lab-07:\n          wait_timeout: 15\n"
    )
    try:
        yield LabProject(root, isolated_env(tmp_path)), cluster
    finally:
        cluster.stop()
        kill_processes_mentioning(str(tmp_path))


def labelled(cluster: Any) -> list[str]:
    """Everything labtools labelled on the cluster."""
    out = cluster.kubectl("get", LABELLED, "-l", "labtools/lab", "-o", "name", check=True)
    return out.stdout.split()


def as_participant(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real kubectl with a participant's kubeconfig alone (its discovery cache beside the
    project, where a participant's would be in their own HOME: not the suite's)."""
    cache = kubeconfig.parents[3] / ".participant-kube-cache"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(cache)}
    return subprocess.run(
        ["kubectl", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_thirty_participants_on_one_shared_cluster(
    workshop: tuple[LabProject, Any], tmp_path: Path
) -> None:
    project, cluster = workshop
    up = project.invoke("lab.up", "--forks", "10")
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr
    assert "30/30 ready" in up.stdout
    for host in PARTICIPANTS:
        assert recap_row(up.stdout, host)["failed"] == 0
    run = project.latest_run()
    folder = run / "participants"
    assert f"participant kubeconfigs (mode 0600, 30 written): {folder}/" in up.stdout

    # Each participant has a namespace labelled with the lab and who they are, and a 0600 file.
    namespace = yaml.safe_load(
        cluster.kubectl("get", "namespace", "lab-07", "-o", "yaml", check=True).stdout
    )
    assert namespace["metadata"]["labels"]["labtools/lab"] == "basics"
    assert namespace["metadata"]["labels"]["labtools/participant"] == "lab-07"
    assert namespace["metadata"]["annotations"]["labtools/participant-name"] == "Participant 07"
    tokens = {}
    for host in PARTICIPANTS:
        path = folder / f"{host}.kubeconfig"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, host
        tokens[host] = kubeconfig_token(path.read_text())
    assert stat.S_IMODE((project.root / "runs" / "participants").stat().st_mode) == 0o700

    # The lab ran AS the participant: the app's pod was created by the ServiceAccount's deployment
    # in their namespace, and the quota counts it.
    quota = cluster.kubectl("get", "resourcequota", "labtools-quota", "-n", "lab-07", "-o", "yaml")
    assert yaml.safe_load(quota.stdout)["status"]["used"]["pods"] == "1"
    whoami = as_participant(
        folder / "lab-07.kubeconfig", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert whoami.stdout == "system:serviceaccount:lab-07:student"

    # A participant can do the lab in their namespace and nothing in a neighbour's.
    for index, host in enumerate(PARTICIPANTS):
        neighbour = PARTICIPANTS[(index + 1) % len(PARTICIPANTS)]
        mine = folder / f"{host}.kubeconfig"
        assert as_participant(mine, "get", "pods", "-o", "name").stdout.startswith(
            "pod/kubernetes-bootcamp-"
        )
        denied = as_participant(mine, "get", "pods", "-n", neighbour)
        assert denied.returncode == 1
        assert denied.stderr == (
            'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:'
            f'{host}:student" cannot list resource "pods" in API group "" in the namespace '
            f'"{neighbour}"\n'
        )

    # The tokens are secrets: in the kubeconfig files only, never in an output or a journal.
    everything = up.stdout + up.stderr
    for path in (project.root / "runs").rglob("*"):
        if path.is_file() and path.parent.name != "participants":
            everything += path.read_text(errors="replace")
    for host, token in tokens.items():
        assert token, host
        assert token not in everything, host

    check_cards(project, tokens, tmp_path)

    # A second run changes nothing and keeps the tokens.
    again = project.invoke("lab.setup", "--forks", "10")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert recap_row(again.stdout, "lab-07")["changed"] == 0
    assert kubeconfig_token((folder / "lab-07.kubeconfig").read_text()) == tokens["lab-07"]

    down = project.invoke("lab.down", "--forks", "10")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr
    assert labelled(cluster) == []
    namespaces = cluster.kubectl("get", "namespaces", "-o", "name", check=True).stdout.split()
    assert not [n for n in namespaces if n.startswith("namespace/lab-")]
    assert not (project.root / "runs" / "participants").exists()
    again_down = project.invoke("lab.down", "--forks", "10")
    assert again_down.returncode == 0, again_down.stdout[-3000:]
    assert [p for p in wait_until_gone(str(tmp_path / "project")) if " proxy " in p[1]] == []


def check_cards(project: LabProject, tokens: dict[str, str | None], tmp_path: Path) -> None:
    """`lab.cards`: 30 cards, 8 per A4 page in Chromium, a QR code that scans, no token unless
    asked for."""
    made = project.invoke("lab.cards")
    assert made.returncode == 0, made.stdout + made.stderr
    folder = project.latest_run()
    assert made.stdout.splitlines() == [
        f"30 cards: {folder / 'cards.html'}",
        f"30 cards: {folder / 'cards.md'}",
    ]
    markdown = (folder / "cards.md").read_text()
    assert markdown.count("\n## ") == 30
    assert "## Participant 07 (`lab-07`)" in markdown
    assert (
        "export KUBECONFIG=lab-07.kubeconfig\nkubectl version\nkubectl cluster-info\n" in markdown
    )
    assert f"- Lab page: <{CARD_URL}Participant%2007>" in markdown
    html = folder / "cards.html"
    page = open_page(
        chromium(),
        html,
        # how many cards, and those whose last line (the expiry) falls outside the card
        "[document.querySelectorAll('section.card').length, [...document.querySelectorAll("
        "'section.card')].filter(c => c.lastElementChild.getBoundingClientRect().bottom > "
        "c.getBoundingClientRect().bottom).map(c => c.id)]",
        tmp_path / "chromium",
        print_options={"preferCSSPageSize": True},  # the cards' @page is A4
        element="#card-lab-07 .qr svg",
    )
    (folder / "cards.png").write_bytes(page.screenshot)
    assert page.value == [30, []]  # every line of every card is on the card
    assert page.title == "basics: access cards"
    assert (page.console, page.exceptions, page.requests) == ([], [], [])
    assert pdf_pages(page.pdf) == 4  # 30 cards, 8 per A4 page
    # the QR code on lab-07's card, as Chromium draws it, reads as lab-07's URL
    assert decode_qr(page.element_shot) == [f"{CARD_URL}Participant%2007"]
    text = html.read_text()
    assert "Access expires 20" in text  # the token's own expiry, read from its kubeconfig
    everything = markdown + text
    assert not [host for host, token in tokens.items() if token and token in everything]

    secret = project.invoke("lab.cards", "--limit", "lab-07", "--with-token", "--format", "md")
    assert secret.returncode == 0, secret.stdout + secret.stderr
    card = project.latest_run() / "cards.md"
    assert stat.S_IMODE(card.stat().st_mode) == 0o600
    assert f"Token: `{tokens['lab-07']}`" in card.read_text()
    card.unlink()

    chinese = project.invoke("lab.cards", "--limit", "lab-07", "--format", "md", "--lang", "zh-TW")
    assert chinese.returncode == 0, chinese.stdout + chinese.stderr
    assert chinese.stdout.strip() == f"1 張存取卡：{project.latest_run() / 'cards.md'}"  # noqa: RUF001
    card_zh = (project.latest_run() / "cards.md").read_text(encoding="utf-8")
    assert "- `training` 上的命名空間 `lab-07`" in card_zh


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a PNG (zxing-cpp, from the test extra)."""
    import io

    import zxingcpp
    from PIL import Image

    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_an_image_pull_failure_drops_one_participant_and_resume_finishes_it(
    workshop: tuple[LabProject, Any],
) -> None:
    project, cluster = workshop
    cluster.inject("image-pull", image="*kubernetes-bootcamp*", namespace="lab-07")
    up = project.invoke("lab.up", "--forks", "10")
    assert up.returncode == 1, up.stdout[-3000:] + up.stderr
    wait = "wait for the deployment to be available"
    # the kubelet alternates ErrImagePull (a pull failed) and ImagePullBackOff (waiting to try
    # again, pkg/kubelet/images/image_manager.go): the reason is whichever the pod shows when
    # the wait gives up, so either is right
    reason = "ImagePullBackOff" if "(ImagePullBackOff)" in up.stdout else "ErrImagePull"
    line = f"29/30 ready; lab-07 failed at '{wait}' ({reason})"
    assert line in up.stdout.splitlines()
    assert line in up.stderr  # the error the task exits with says it too
    for host in PARTICIPANTS:
        assert recap_row(up.stdout, host)["failed"] == (1 if host == "lab-07" else 0), host
    run = project.latest_run()
    verified = {p.name for p in run.glob("verify-*.xml")}
    assert verified == {f"verify-{h}.xml" for h in PARTICIPANTS if h != "lab-07"}

    # lab-07's diagnostics are in the run directory and the summary names them.
    diagnostics = run / "diagnostics" / "lab-07"
    assert f"diagnostics of lab-07 ({reason}): {diagnostics}" in up.stdout
    assert [p.name for p in (run / "diagnostics").iterdir()] == ["lab-07"]
    events = (diagnostics / "events.txt").read_text()
    assert 'Failed to pull image "gcr.io/google-samples/kubernetes-bootcamp:v1"' in events
    describe = (diagnostics / "describe.txt").read_text()
    assert "Name:" in describe
    assert "ImagePullBackOff" in describe or "ErrImagePull" in describe
    logs = list((diagnostics / "logs").iterdir())
    assert [p.name.split(".", 1)[1] for p in logs] == ["kubernetes-bootcamp.txt"]
    readme = (diagnostics / "README.txt").read_text()
    assert readme.startswith(f"host lab-07 failed at '{wait}' (deploy): {reason}")
    token = kubeconfig_token((project.root / "runs/participants/lab-07.kubeconfig").read_text())
    assert token
    for path in diagnostics.rglob("*.txt"):
        assert token not in path.read_text()

    # The registry recovers; --resume redoes lab-07 from the step that failed, and only lab-07.
    cluster.clear_faults()
    # the kubelet pulls again when its back-off (at most 5 min, here 30 s) ends: wait for it
    resumed = project.invoke("lab.up", "--forks", "10", "--resume", "--set", "wait_timeout=90")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert "1/1 ready" in resumed.stdout
    ends = [e for e in project.journal() if e["kind"] == "step_end"]
    assert {e["host"] for e in ends} == {"lab-07"}
    assert ends[0]["step"] == wait
    assert recap_row(resumed.stdout, "lab-07")["failed"] == 0
    nothing = project.invoke("lab.up", "--resume")
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr
    assert "nothing to resume" in nothing.stdout


def test_prepare_pulls_every_image_the_lab_names(workshop: tuple[LabProject, Any]) -> None:
    project, cluster = workshop
    v1 = "gcr.io/google-samples/kubernetes-bootcamp:v1"
    v2 = "docker.io/jocatalin/kubernetes-bootcamp:v2"  # named by the extended part only
    cluster.inject("image-pull", image=v2, namespace="default", reason="denied")
    failed = project.invoke("lab.prepare")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = failed.stdout.splitlines()
    assert lines[0] == f"images the lab names (2): {v1}, {v2}"
    assert "shared cluster training: one pod per image" in lines
    assert any(line.startswith(f"ok     pull {v1}: pulled in ") for line in lines)
    # the kubelet's first word is ErrImagePull, then ImagePullBackOff: either is the answer
    denied = [line for line in lines if line.startswith(f"FAILED pull {v2}: ")]
    assert denied, failed.stdout
    assert denied[0].split(": ")[1] in ("ErrImagePull", "ImagePullBackOff")
    assert "pull access denied" in denied[0]
    leftover = cluster.kubectl("get", "pods", "-A", "-l", "labtools/prepare", "-o", "name")
    assert leftover.stdout.strip() == ""
    cluster.clear_faults()
    ok = project.invoke("lab.prepare")
    assert ok.returncode == 0, ok.stdout + ok.stderr
