"""Workshops, the pure parts: participants files, participant kubeconfigs, isolation argv,
resume points, diagnoses and the recap's outcome line."""
# ruff: noqa: RUF001  (the zh-TW texts compared here use fullwidth punctuation, as Chinese does)

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtools.core.diagnostics import findings, log_args
from labtools.core.errors import ConfigError, InventoryError, OptionError
from labtools.core.inventory import load_inventory
from labtools.core.kubeconfig import (
    applied_changes,
    kubeconfig_token,
    parse_duration,
    participant_kubeconfig,
    recreated,
    token_expiry,
)
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.results import HostFailure
from labtools.core.resume import resume, start_at
from labtools.providers import get_provider
from labtools.report.outcome import outcome_line

# ---------------------------------------------------------------- participants files

INVENTORY = """all:
  vars:
    participants_file: people.csv
  hosts:
    lab-[01:03]:
    lab-04:
      participant: Dora
"""


def load(tmp_path: Path, csv: str, inventory: str = INVENTORY) -> dict[str, Host]:
    (tmp_path / "inventory.yml").write_text(inventory)
    (tmp_path / "people.csv").write_text(csv)
    return dict(load_inventory(tmp_path / "inventory.yml").hosts)


def test_participants_by_host_column_with_extra_columns(tmp_path: Path) -> None:
    hosts = load(tmp_path, 'name,host,email\nAlice,lab-01,a@x.org\n# late\n\n"Chen, Bob",lab-03,\n')
    assert hosts["lab-01"].vars["participant"] == "Alice"
    assert hosts["lab-01"].vars["email"] == "a@x.org"
    assert hosts["lab-03"].vars["participant"] == "Chen, Bob"
    assert "email" not in hosts["lab-03"].vars  # an empty cell sets nothing
    assert "participant" not in hosts["lab-02"].vars  # the host name is the default (plan)
    assert str(hosts["lab-03"].var_sources["participant"]).endswith("people.csv:5")


def test_participants_in_inventory_order_without_host_column(tmp_path: Path) -> None:
    inventory = "all:\n  vars:\n    participants_file: people.csv\n  hosts:\n    lab-[01:03]:\n"
    hosts = load(tmp_path, "name\nAna\nBen\n", inventory)
    assert [hosts[h].vars.get("participant") for h in ("lab-01", "lab-02", "lab-03")] == [
        "Ana",
        "Ben",
        None,
    ]


@pytest.mark.parametrize(
    ("csv", "line", "message"),
    [
        ("name,host\nAlice,lab-1\n", 2, "unknown host 'lab-1'"),
        ("name,host\nAlice,lab-01\nBob,lab-01\n", 3, "lab-01 already has a participant (line 2)"),
        ("name,host\nDora,lab-04\n", 2, "participant of host lab-04 is set twice"),
        ("nmae,host\nAlice,lab-01\n", 1, "no 'name' column"),
        ("name,e mail\nAlice,x\n", 1, "column 'e mail' is not a variable name"),
        ("name,host\n,lab-01\n", 2, "a participant without a name"),
        ("name,host\nA,lab-01,extra\n", 2, "3 values but the header has 2 columns"),
        ("\n# nothing\n", 1, "the participants file is empty"),
    ],
)
def test_participants_file_errors_name_the_line(
    tmp_path: Path, csv: str, line: int, message: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, csv)
    assert message in caught.value.message
    assert caught.value.location is not None
    assert caught.value.location.line == line
    assert caught.value.location.file.endswith("people.csv")


def test_participants_file_errors_speak_the_readers_language(tmp_path: Path) -> None:
    from labtools.core.i18n import translator

    with pytest.raises(InventoryError) as caught:
        load(tmp_path, "name,host\nAlice,lab-01\nBob,lab-01\n")
    text = caught.value.format(translator("zh-TW"))
    assert text == (
        f"{tmp_path / 'people.csv'}:3: 主機 lab-01 已經有學員了（第 2 行）\n"
        "  提示：每台主機只能有一行"
    )


def test_more_names_than_hosts(tmp_path: Path) -> None:
    inventory = "all:\n  vars:\n    participants_file: people.csv\n  hosts:\n    lab-[01:02]:\n"
    with pytest.raises(InventoryError, match="participant 3 but only 2 hosts") as caught:
        load(tmp_path, "name\nA\nB\nC\n", inventory)
    assert caught.value.location is not None
    assert caught.value.location.line == 4


def test_missing_participants_file_points_at_the_var(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    with pytest.raises(InventoryError, match=r"people\.csv") as caught:
        load_inventory(tmp_path / "inventory.yml")
    assert str(caught.value.location).startswith(str(tmp_path / "inventory.yml") + ":3")


# ---------------------------------------------------------------- kubeconfigs and tokens


def jwt(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


@pytest.mark.parametrize(
    ("text", "seconds"), [("8h", 28800), ("90m", 5400), ("1h30m", 5400), ("600s", 600), (60, 60)]
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8 hours", "1d", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


def test_participant_kubeconfig_round_trip() -> None:
    token = jwt({"exp": 2_000_000_000, "sub": "system:serviceaccount:lab-07:student"})
    cluster = {"server": "https://10.0.0.1:6443", "certificate-authority-data": "Q0E="}
    text = participant_kubeconfig(
        cluster, token + "\n", context="lab-07", user="u", namespace="lab-07"
    )
    doc = yaml.safe_load(text)
    assert doc["current-context"] == "lab-07"
    assert doc["contexts"][0]["context"] == {
        "cluster": "lab-07",
        "user": "u",
        "namespace": "lab-07",
    }
    assert doc["clusters"][0]["cluster"] == cluster
    assert kubeconfig_token(text) == token
    assert token_expiry(token) == 2_000_000_000
    assert token_expiry("not-a-jwt") is None


def test_apply_output_judgement() -> None:
    assert not applied_changes("namespace/lab-07 unchanged\nrole.rbac.../x unchanged\n")
    assert applied_changes("namespace/lab-07 unchanged\nserviceaccount/student created\n")
    assert applied_changes("resourcequota/labtools-quota configured\n")
    assert recreated("namespace/a created\nserviceaccount/student created\n", "student")
    assert not recreated("serviceaccount/student unchanged\n", "student")


# ---------------------------------------------------------------- isolation in provider context


def ctx_host(name: str = "lab-07", **vars: Any) -> Host:
    base = {"kube_context": "training", "project_root": "/srv/ws", **vars}
    defaults = get_provider("context").defaults(name, base)
    return Host(name, "context", {**defaults, **base})


def test_isolated_host_runs_as_the_participant() -> None:
    provider = get_provider("context")
    host = ctx_host()
    kubeconfig = "/srv/ws/runs/participants/lab-07.kubeconfig"
    assert provider.kubectl(host, ["get", "pods"]) == (
        "kubectl", "--kubeconfig", kubeconfig, "--context", "lab-07", "-n", "lab-07", "get", "pods"
    )  # fmt: skip
    assert provider.env(host) == {"KUBECONFIG": kubeconfig}
    assert provider.admin_kubectl(host, ["get", "events"]) == (
        "kubectl", "--context", "training", "-n", "lab-07", "get", "events"
    )  # fmt: skip
    assert provider.admin_env(host) == {}
    assert ctx_host("team-a").vars["namespace"] == "lab-team-a"


def test_isolated_start_applies_templates_and_issues_credentials() -> None:
    op = get_provider("context").cluster(ctx_host(token_duration="2h"), "start")
    assert op.run == ("kubectl", "--context", "training", "apply", "-f", "-")
    assert op.manifests == "workshop"
    assert op.env == {}
    creds = op.credentials
    assert creds is not None
    assert creds.token == (
        "kubectl", "--context", "training", "-n", "lab-07", "create", "token", "student",
        "--duration=2h",
    )  # fmt: skip
    assert creds.duration == 7200
    assert creds.user == "system:serviceaccount:lab-07:student"
    delete = get_provider("context").cluster(ctx_host(), "delete")
    assert delete.run is not None
    assert delete.run[-3:] == ("-", "--ignore-not-found", "--wait=true")
    assert delete.removes == ("/srv/ws/runs/participants/lab-07.kubeconfig",)


def test_isolation_off_is_the_instructors_namespace() -> None:
    provider = get_provider("context")
    host = ctx_host(isolation=False)
    assert provider.kubectl(host, ["get", "pods"])[:3] == ("kubectl", "--context", "training")
    assert provider.cluster(host, "start").credentials is None


def test_bad_token_duration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="lab-07: `token_duration`"):
        get_provider("context").cluster(ctx_host(token_duration="1 day"), "start")


# ---------------------------------------------------------------- start-at and resume


def step(name: str, phase: str = "deploy", **kw: Any) -> Step:
    return Step(name=name, phase=phase, action=kw.pop("action", "kubectl"), spec="get x",
                source=None, **kw)  # type: ignore[arg-type]  # fmt: skip


STEPS = (
    step("start", "setup", action="cluster"),
    step("create"),
    step("proxy", "explore", action="service", register="proxy"),
    step("POD_NAME", "explore", register="POD_NAME"),
    step("logs", "explore"),
)


def plan(*hosts: str) -> Plan:
    lab = Lab(name="basics", path="playbooks/basics.yml")
    host_plans = tuple(HostPlan(Host(h, "fake", {}), {}, STEPS) for h in hosts)
    return Plan(lab=lab, phases=("setup", "deploy", "explore"), hosts=host_plans)


def names(host_plan: HostPlan) -> list[str]:
    return [s.name for s in host_plan.steps]


def test_start_at_keeps_the_steps_later_ones_need() -> None:
    cut = start_at(plan("a"), "logs")
    assert names(cut.hosts[0]) == ["proxy", "POD_NAME", "logs"]
    with pytest.raises(OptionError, match="no step 'log'") as caught:
        start_at(plan("a"), "log")
    assert "did you mean 'logs'" in str(caught.value.hint)


def end(host: str, name: str, phase: str, status: str, **result: Any) -> dict[str, Any]:
    return {"kind": "step_end", "host": host, "phase": phase, "step": name,
            "result": {"status": status, **result}}  # fmt: skip


def test_resume_redoes_the_failed_host_from_its_failed_step() -> None:
    journal = [
        end("a", "start", "setup", "ok"),
        end("b", "start", "setup", "ok"),
        end("a", "create", "deploy", "changed"),
        end("b", "create", "deploy", "changed"),
        end("a", "proxy", "explore", "ok", registered={"port": 8001}),
        end("b", "proxy", "explore", "ok", registered={"port": 8002}),
        end("a", "POD_NAME", "explore", "ok", registered={"stdout_lines": ["web-1"]}),
        end("b", "POD_NAME", "explore", "failed", registered={"stdout_lines": []}),
        end("a", "logs", "explore", "ok"),
    ]
    started = {"kind": "run_start", "hosts": ["a", "b", "c"]}
    resumed = resume(plan("a", "b", "c", "d"), [started, *journal])
    by_host = {hp.host.name: hp for hp in resumed.hosts}
    assert set(by_host) == {"b", "c"}  # a finished; c never started; d was not in that run
    assert names(by_host["b"]) == ["proxy", "POD_NAME", "logs"]  # the service runs again
    assert names(by_host["c"]) == names(plan("c").hosts[0])


def test_resume_restores_registered_values_and_reruns_masked_ones() -> None:
    journal = [
        end("a", "start", "setup", "ok"),
        end("a", "create", "deploy", "ok"),
        end("a", "proxy", "explore", "ok", registered={"port": 8001}),
        end("a", "POD_NAME", "explore", "ok", registered={"stdout_lines": ["web-1"]}),
        end("a", "logs", "explore", "failed"),
    ]
    (resumed,) = resume(plan("a"), journal).hosts
    assert names(resumed) == ["proxy", "logs"]
    assert resumed.registered == {"POD_NAME": {"stdout_lines": ["web-1"]}}
    journal[3] = end("a", "POD_NAME", "explore", "ok", registered={"stdout": "********"})
    (resumed,) = resume(plan("a"), journal).hosts
    assert names(resumed) == ["proxy", "POD_NAME", "logs"]
    # a resumed run that got to the end leaves nothing to resume, though it ran only the end
    assert resume(plan("a"), [end("a", "logs", "explore", "ok")]).hosts == ()
    (interrupted,) = resume(plan("a"), [end("a", "start", "setup", "ok")]).hosts
    assert names(interrupted) == names(plan("a").hosts[0])[1:]


# ---------------------------------------------------------------- diagnoses and the outcome


def pod(name: str, waiting: str | None = None, ready: bool = False, restarts: int = 0) -> dict:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "kind": "Pod",
        "metadata": {"name": name},
        "status": {
            "phase": "Pending" if waiting else "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "app", "ready": ready, "restartCount": restarts, "state": state}
            ],
        },
    }


def deployment(name: str, available: int, failure: str | None = None) -> dict:
    conditions = []
    if failure:
        conditions.append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                           "message": failure})  # fmt: skip
    return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"replicas": 1},
            "status": {"availableReplicas": available, "conditions": conditions}}  # fmt: skip


def test_findings_name_the_kubelets_reason() -> None:
    found = findings(
        [deployment("web", 0), pod("web-1", "ImagePullBackOff"), pod("ok", ready=True)]
    )
    assert found.reason == "ImagePullBackOff"
    assert found.not_ready == ("deployment/web", "pod/web-1")
    assert found.containers == (("web-1", "app", False),)
    crash = findings([pod("c", "CrashLoopBackOff", restarts=3)])
    assert crash.containers == (("c", "app", True),)
    assert log_args("c", "app", True)[-1] == "--previous"


def test_findings_quota_and_all_ready() -> None:
    quota = 'pods "web-1" is forbidden: exceeded quota: labtools-quota, requested: pods=1'
    assert findings([deployment("web", 0, quota)]).reason == "FailedCreate: exceeded quota"
    assert findings([deployment("web", 1), pod("web-1", ready=True)]).not_ready == ()


def test_outcome_line_groups_hosts_that_failed_alike() -> None:
    hosts = [f"lab-{i:02d}" for i in range(1, 31)]
    failures = [
        HostFailure("lab-07", "deploy", "wait for the deployment", "ImagePullBackOff"),
        HostFailure("lab-19", "setup", "minikube start", "exit code 1"),
        HostFailure("lab-21", "deploy", "wait for the deployment", "ImagePullBackOff"),
    ]
    assert outcome_line(hosts, failures) == (
        "27/30 ready; lab-07, lab-21 failed at 'wait for the deployment' (ImagePullBackOff); "
        "lab-19 failed at 'minikube start' (exit code 1)"
    )
    assert outcome_line(hosts[:2], []) == "2/2 ready"


def test_outcome_line_in_zh_tw_keeps_the_kubelets_word_and_translates_the_rest() -> None:
    from labtools.core.i18n import translator
    from labtools.core.messages import msg

    hosts = [f"lab-{i:02d}" for i in range(1, 4)]
    failures = [
        HostFailure("lab-02", "deploy", "wait", "ImagePullBackOff"),
        HostFailure("lab-03", "setup", "start", msg("timed out after {seconds}s", seconds=30)),
    ]
    line = translator("zh-TW").render(outcome_line(hosts, failures))
    assert line == (
        "1/3 就緒；lab-02 在 'wait' 失敗（ImagePullBackOff）；lab-03 在 'start' 失敗（30 秒後逾時）"
    )
    many = [HostFailure(h, "deploy", f"step {h}", "x") for h in hosts]
    assert str(outcome_line(hosts, many)).startswith("0/3 ready;")
    # past six groups the line says how many more (the recap table lists every host)
    seven = [f"h{i}" for i in range(8)]
    grouped = [HostFailure(h, "deploy", f"step {h}", "x") for h in seven]
    assert str(outcome_line(seven, grouped)).endswith("; and 2 more hosts failed")


@pytest.mark.parametrize(
    ("message", "stderr", "reason"),
    [
        # a failed command: kubectl's own error says more than the exit code
        (
            "exit code {rc}",
            "warning: x\nError from server (Forbidden): no\n",
            "Error from server (Forbidden): no",
        ),
        ("exit code {rc}", "", "exit code 1"),
        ("timed out after {seconds}s", "partial output\n", "timed out after 5s"),
    ],
)
def test_failure_reason_of_a_dropped_host(message: str, stderr: str, reason: str) -> None:
    from labtools.core.diagnostics import failure_reason
    from labtools.core.messages import Msg, msg
    from labtools.core.results import StepResult

    text = msg(message, rc=1, seconds=5)
    result = StepResult("h", "deploy", "s", "failed", rc=1, stderr=stderr, message=text)
    found = failure_reason(result)
    assert found == reason
    if reason == str(text):
        assert isinstance(found, Msg)  # still a catalogue message: the summary translates it


# ---------------------------------------------------------------- host mode: preflight, forks


def test_preflight_groups_identical_problems_across_hosts() -> None:
    from labtools.core.errors import Location
    from labtools.core.inventory import compress_hosts
    from labtools.providers.base import PreflightProblem, where
    from labtools.providers.preflight import preflight_error

    hosts = [
        Host(f"lab-{i:02d}", "minikube", {}, source=Location("inv.yml", 13)) for i in range(1, 16)
    ]
    problems = [
        PreflightProblem(
            h.name,
            "driver",
            f"inventory asks driver docker for {where(h)} but `docker info` failed",
            "start the docker daemon",
        )
        for h in hosts
    ] + [PreflightProblem("team-a", "kube_context", "context x of host team-a is unknown")]
    message = str(preflight_error(problems).message)
    assert message.splitlines() == [
        "preflight found 16 problems: ",
        "  - 15 hosts (lab-[01:15]; inv.yml:13): driver: inventory asks driver docker for them "
        "but `docker info` failed; start the docker daemon",
        "  - kube_context: context x of host team-a is unknown",
    ]
    assert compress_hosts(["lab-01", "lab-02", "lab-04", "team-a", "team-b", "team-c", "x"]) == (
        "lab-01, lab-02, lab-04, team-[a:c], x"
    )


def test_minikube_start_forks_by_driver() -> None:
    import os

    minikube = get_provider("minikube")
    cores = os.cpu_count() or 2
    assert minikube.cluster(Host("a", "minikube", {}), "start").parallel == max(1, cores // 2)
    vm = Host("a", "minikube", {"driver": "kvm2"})
    assert minikube.cluster(vm, "start").parallel == 2
    assert minikube.cluster(Host("a", "minikube", {"start_forks": 6}), "start").parallel == 6
    assert get_provider("fake").cluster(Host("a", "fake", {}), "start").parallel == cores


def test_host_mode_isolation_gives_each_profile_its_own_kubeconfig() -> None:
    minikube = get_provider("minikube")
    host = Host("lab-03", "minikube", {"isolation": True, "project_root": "/srv/ws"})
    assert minikube.env(host)["KUBECONFIG"] == "/srv/ws/runs/participants/lab-03.kubeconfig"
    assert minikube.cluster(host, "delete").removes == (
        "/srv/ws/runs/participants/lab-03.kubeconfig",
    )
    assert "KUBECONFIG" not in minikube.env(Host("basics", "minikube", {}))


def test_totals_of_many_profiles() -> None:
    from labtools.providers.minikube_checks import check_total_cpus, check_total_disk

    hosts = [Host(f"lab-{i}", "minikube", {"cpus": 2, "disk_size": "20g"}) for i in range(8)]
    (cpus,) = check_total_cpus(hosts, 4)
    assert (
        cpus.message
        == "8 minikube hosts together ask 16 CPUs; this machine has 4 cores (x2 overcommit)"
    )
    assert check_total_cpus(hosts, 8) == []
    (disk,) = check_total_disk(hosts, 100_000)
    assert "163840 MB of disk but 100000 MB is free" in disk.message


def test_images_named_by_commands_and_manifests() -> None:
    from labtools.core.images import images_in_args, images_in_docs, usable

    prefix = ["kubectl", "--context", "c", "-n", "lab-01"]
    assert images_in_args([*prefix, "create", "deployment", "web", "--image=nginx:1.27"]) == [
        "nginx:1.27"
    ]
    assert images_in_args([*prefix, "run", "t", "--image", "busybox"]) == ["busybox"]
    assert images_in_args([*prefix, "set", "image", "deployments/web", "web=nginx:2"]) == [
        "nginx:2"
    ]
    pod = {"spec": {"initContainers": [{"image": "init:1"}], "containers": [{"image": "app:1"}]}}
    cron = {"spec": {"jobTemplate": {"spec": {"template": pod}}}}
    assert images_in_docs([pod, cron]) == ["init:1", "app:1", "init:1", "app:1"]
    assert not usable("<image>")


# ---------------------------------------------------------------- access cards


def card(**changes: Any) -> Any:
    from labtools.core.cards import Card

    fields: dict[str, Any] = {
        "host": "lab-07",
        "participant": "<b>Bo</b> & Li",
        "provider": "context",
        "shared": True,
        "place": "lab-07",
        "cluster": "training",
        "kubeconfig": "runs/participants/lab-07.kubeconfig",
        "kubeconfig_name": "lab-07.kubeconfig",
        "commands": ("kubectl get pods",),
        "expires": "2026-12-01 18:00 UTC",
    }
    return Card(**{**fields, **changes})


def test_cards_in_zh_tw_markup_only_where_the_template_puts_it() -> None:
    from labtools.report.cards import render_cards

    templates = Path(__file__).resolve().parents[2] / "templates"
    lab = Lab("basics", "playbooks/basics.yml", "Basics")
    html = render_cards([card()], lab, templates, "html", lang="zh-TW")
    assert '<html lang="zh-TW">' in html
    assert "<title>basics：存取卡</title>" in html
    # the participant's name is text; code() is markup inside the translated sentence
    assert "<h2>&lt;b&gt;Bo&lt;/b&gt; &amp; Li</h2>" in html
    assert "<code>training</code> 上的命名空間 <code>lab-07</code>" in html
    assert "您的 kubeconfig：<code>lab-07.kubeconfig</code>（向講師索取）" in html
    assert "存取權限到期時間：2026-12-01 18:00 UTC" in html
    markdown = render_cards([card(expires="", lasts="2h")], lab, templates, "md")
    assert "- namespace `lab-07` on `training`\n" in markdown
    assert "- Access lasts 2h from when your place is set up\n" in markdown
    # the file's name as the participant gets it, not the instructor's path to it
    assert "- Your kubeconfig: `lab-07.kubeconfig` (from your instructor)\n" in markdown
    assert "```sh\nexport KUBECONFIG=lab-07.kubeconfig\nkubectl get pods\n```" in markdown
    spaced = render_cards([card(kubeconfig_name="my files/a.kubeconfig")], lab, templates, "md")
    assert "export 'KUBECONFIG=my files/a.kubeconfig'\n" in spaced  # a shell reads it whole


def test_resume_marks_the_step_that_failed_as_the_one_tried_again() -> None:
    journal = [
        end("a", "start", "setup", "ok"),
        end("a", "create", "deploy", "failed"),
        end("b", "start", "setup", "ok"),
    ]
    by_host = {hp.host.name: hp for hp in resume(plan("a", "b"), journal).hosts}
    assert by_host["a"].retried == ("deploy", "create")  # its old pods may still be backing off
    assert by_host["b"].retried is None  # interrupted, not failed: it just goes on
