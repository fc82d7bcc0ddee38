"""Tutor checks: the `check:`/`hint:`/`solution:` schema, probes built for a host, the command a
student types, the shell-log matching, and judging probes with real processes."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from labtools.core.actions import Context, HttpCheck, RunCommand, StartService, Wait, build
from labtools.core.checks import (
    LoggedCommand,
    Typed,
    build_probe,
    curl_argv,
    history_matches,
    parse_log_line,
    typed_for,
    typed_text,
)
from labtools.core.errors import ConfigError, SchemaError
from labtools.core.model import Command, Host
from labtools.core.playbook import load_lab, parse_lab
from labtools.core.yamlfile import parse_yaml
from labtools.effects.process import ProcessRegistry
from labtools.providers.base import ClusterOp
from labtools.providers.fake import FakeProvider
from labtools.tutor.probe import judge, judge_history

REPO = Path(__file__).resolve().parents[2]
BASICS = REPO / "playbooks" / "basics"


def one_lab(step_yaml: str, name: str = "basics") -> Any:
    """A lab of one step, in the folder of the Basics lab (its checks/ for testinfra checks)."""
    doc = parse_yaml(f"name: {name}\nsetup:\n  - {step_yaml}\n", "lab.yml")
    return parse_lab(doc, lab_dir=BASICS)


def one_step(step_yaml: str, name: str = "basics") -> Any:
    return one_lab(step_yaml, name).phases["setup"][0]


class EchoProvider:
    """kubectl and minikube are `echo`: the argv is visible in the output."""

    name = "echo"
    has_minikube = True

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("kubectl", "--context", "ctx", *args)

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return (sys.executable, "-m", "fake.minikube", *args, "-p", "prof")

    def env(self, host: Host) -> Mapping[str, str]:
        return {}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        return ClusterOp(op, run=("minikube", op, "--output", "json"), shown=("minikube", op))


HOST = Host("h1", "echo", {})
CTX = Context(host=HOST, provider=EchoProvider(), tty=True)  # type: ignore[arg-type]


# --- schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "kind", "spec", "that"),
    [
        ("history", "history", None, None),
        ("confirm", "confirm", None, None),
        ("{history: kubectl get pods}", "history", "kubectl get pods", None),
        ("{kubectl: get ns x, that: 'result.rc == 0'}", "kubectl", "get ns x", "result.rc == 0"),
        ("{command: test -e f}", "command", "test -e f", None),
        ("{http: 'http://x/{{ port }}'}", "http", "http://x/{{ port }}", None),
        ("{testinfra: test_node_is_ready}", "testinfra", "test_node_is_ready", None),
    ],
)
def test_check_kinds_parse(check: str, kind: str, spec: Any, that: str | None) -> None:
    step = one_step(f"{{name: a, kubectl: get pods, check: {check}, hint: look, solution: run}}")
    assert (step.check.kind, step.check.spec, step.check.that) == (kind, spec, that)
    assert step.hint == {"en": "look"}
    assert step.solution == {"en": "run"}
    assert step.check.source.line == 3


@pytest.mark.parametrize(
    ("check", "message", "hint"),
    [
        ("histroy", "unknown check 'histroy'", "did you mean 'history'"),
        ("{kubectl: get x, command: y}", "check has 2 kinds", "exactly one of"),
        ("{that: 'x'}", "check has no kind", "exactly one of"),
        ("{kubeclt: get x}", "unknown key 'kubeclt'", "did you mean 'kubectl'"),
        ("{testinfra: test_node_is_redy}", "no test 'test_node_is_redy'", "test_node_is_ready"),
        ("{history: x, that: 'result.rc == 0'}", "a history check takes no 'that'", "'that'"),
        ("{kubectl: get x, that: 'result.rc =='}", "", None),
        ("{confirm: 3}", "'confirm' takes no value", "check: confirm"),
    ],
)
def test_bad_checks_name_file_line_and_key(check: str, message: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        one_step(f"{{name: a, kubectl: get pods, check: {check}}}")
    error = caught.value
    assert message in error.message
    assert error.location is not None
    assert (error.location.file, error.location.line) == ("lab.yml", 3)
    assert str(error.location.key).startswith("setup[0].check")
    if hint:
        assert hint in (error.hint or "")


def test_history_of_its_own_command_needs_a_command_step() -> None:
    with pytest.raises(
        SchemaError, match="needs a step the student types: kubectl, minikube, command"
    ):
        one_step("{name: a, wait: 1, check: history}")


def test_every_step_of_the_basics_lab_has_a_check_hint_and_solution() -> None:
    lab = load_lab(REPO / "playbooks" / "basics" / "playbook.yml")
    steps = [step for phase in lab.phases.values() for step in phase]
    # the lab's own checks are the one step the tutor runs itself (it is a check)
    missing = [s.name for s in steps if s.action != "verify" and not (s.check and s.hint)]
    assert missing == []
    for step in steps:
        if step.action != "verify":
            assert set(step.hint) == {"en", "zh-TW"}, step.name
            assert set(step.solution) == {"en", "zh-TW"}, step.name


# --- what the student types -------------------------------------------------------------------


def test_typed_commands_show_shims_and_drop_machine_output() -> None:
    shims = {"minikube": (sys.executable, "-m", "fake.minikube")}
    run = build(one_step("{name: a, minikube: version}"), {}, CTX)
    assert typed_for(run, shims) == Typed(("minikube", "version", "-p", "prof"))
    cluster = build(one_step("{name: a, cluster: start}"), {}, CTX)
    assert typed_for(cluster, shims) == Typed(("minikube", "start"))
    service = StartService("proxy", Command(("kubectl", "proxy", "--port=8001")))
    assert typed_for(service, {}) == Typed(("kubectl", "proxy", "--port=8001"), keeps_running=True)
    assert typed_for(Wait(3), {}) is None


def test_a_manifest_is_applied_from_the_file_the_tutor_writes() -> None:
    typed = Typed(("kubectl", "--context", "c", "apply", "-f", "-"), stdin="kind: Pod\n")
    assert typed_text(typed, "/p/files/x.yaml") == "kubectl --context c apply -f /p/files/x.yaml"
    other = Typed(("sh", "-c", "cat"), stdin="x")
    assert typed_text(other, "/p/in file") == "sh -c cat < '/p/in file'"


def test_curl_does_what_an_http_step_does() -> None:
    check = HttpCheck("http://h/x", method="PUT", headers={"A": "b"}, body='{"k": 1}')
    assert curl_argv(check) == (
        "curl", "-sS", "-X", "PUT", "-H", "A: b", "--data", '{"k": 1}', "http://h/x"
    )  # fmt: skip
    assert curl_argv(HttpCheck("http://h/")) == ("curl", "-sS", "http://h/")


# --- the shell log -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "text", "matches"),
    [
        (["kubectl", "--context", "c", "get", "pods"], "kubectl --context c get pods", True),
        (
            ["kubectl", "--context", "c", "get", "pods"],
            "/usr/bin/kubectl --context c get pods",
            True,
        ),
        (["kubectl", "--context", "c", "get", "pods"], "kubectl --context c get pods -A", True),
        (["kubectl", "--context", "c", "get", "pods"], "kubectl get pods", False),
        (["kubectl", "--context", "c", "get", "pods"], "kubectl --context c get pod", False),
        (["kubectl", "get", "pods"], "echo kubectl get pods", False),
        (["kubectl", "logs", "p-1"], "kubectl logs 'p-1'", True),
        (["curl", "-s", "http://x/"], "curl -s 'http://x/", False),  # unclosed quote: plain words
        (["kubectl", "get", "pods"], "kubectl get  pods  | head", True),
    ],
)
def test_history_matching(words: list[str], text: str, matches: bool) -> None:
    assert history_matches(words, text) is matches


@pytest.mark.parametrize(
    ("line", "entry"),
    [
        ("0\tkubectl get pods \n", LoggedCommand(0, "kubectl get pods")),
        ("130\tsleep 9\n", LoggedCommand(130, "sleep 9")),
        ("x\tls\n", None),
        ("0\t  \n", None),
        ("no tab\n", None),
    ],
)
def test_log_lines(line: str, entry: LoggedCommand | None) -> None:
    assert parse_log_line(line) == entry


def test_a_failed_run_of_the_command_does_not_pass() -> None:
    words = ["kubectl", "get", "pods"]
    assert judge_history(words, []).detail == "not run yet"
    failed = judge_history(words, [LoggedCommand(1, "kubectl get pods")])
    assert (failed.passed, failed.detail) == (False, "`kubectl get pods` exited with 1")
    later = [LoggedCommand(1, "kubectl get pods"), LoggedCommand(0, "kubectl get pods")]
    assert judge_history(words, later).passed


# --- probes with real processes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "passed", "detail"),
    [
        ("{command: 'true'}", True, ""),
        ("{command: 'false'}", False, "result.rc == 0 is false (exit code 1)"),
        ("{command: \"sh -c 'echo no >&2; exit 3'\"}", False, "no"),
        ("{command: 'echo ok', that: \"result.stdout == 'ok\\n'\"}", True, ""),
        ("{command: 'echo {}', that: 'result.json.items | length > 0'}", False, ""),
    ],
)
def test_judge_runs_the_check_and_evaluates_that(check: str, passed: bool, detail: str) -> None:
    step = one_step(f"{{name: a, command: 'true', check: {check}}}")
    verdict = judge(build_probe(step, {}, CTX), ProcessRegistry())
    assert verdict.passed is passed
    if detail:
        assert verdict.detail == detail


def test_a_missing_binary_is_a_check_that_does_not_hold() -> None:
    step = one_step("{name: a, command: 'true', check: {command: no-such-binary-xyz}}")
    verdict = judge(build_probe(step, {}, CTX), ProcessRegistry())
    assert not verdict.passed
    assert "no-such-binary-xyz" in verdict.detail


def test_kubectl_checks_go_through_the_provider() -> None:
    step = one_step("{name: a, command: 'true', check: {kubectl: 'get deploy {{ app }}'}}")
    probe = build_probe(step, {"app": "web"}, CTX)
    assert isinstance(probe.action, RunCommand)
    assert probe.action.command.argv == ("kubectl", "--context", "ctx", "get", "deploy", "web")


def test_history_check_of_the_own_command_and_of_given_words() -> None:
    own = one_step("{name: a, kubectl: get pods, check: history}")
    assert build_probe(own, {}, CTX, own_command=("kubectl", "x")).words == ("kubectl", "x")
    given = one_step("{name: a, kubectl: get pods, check: {history: 'kubectl get {{ what }}'}}")
    assert build_probe(given, {"what": "pods"}, CTX).words == ("kubectl", "get", "pods")


def test_a_step_without_a_check_is_confirmed_with_enter() -> None:
    probe = build_probe(one_step("{name: a, command: 'true'}"), {}, CTX)
    assert probe.kind == "confirm"
    assert not judge(probe, ProcessRegistry()).passed


def test_testinfra_checks_run_one_named_test_of_the_lab() -> None:
    lab = one_lab("{name: a, command: 'true', check: {testinfra: test_node_is_ready}}")
    ctx = dataclasses.replace(CTX, lab=lab)
    probe = build_probe(lab.phases["setup"][0], {"project_root": str(REPO)}, ctx)
    assert isinstance(probe.action, RunCommand)
    argv = probe.action.command.argv
    assert "playbooks/basics/checks/test_basics.py::test_node_is_ready" in argv
    assert argv[argv.index("--lab-hosts") + 1] == "h1"
    assert probe.action.command.cwd == str(REPO)


def test_the_fake_provider_gives_the_student_its_kubeconfig_and_minikube(tmp_path: Path) -> None:
    host = Host("h1", "fake", {"project_root": str(tmp_path)})
    provider = FakeProvider()
    env = provider.shell_env(host)
    assert env["KUBECONFIG"] == str(tmp_path / ".labtools" / "fake-minikube" / "kubeconfig")
    assert "MINIKUBE_IN_STYLE" not in env
    assert provider.shell_commands(host) == {
        "minikube": (sys.executable, "-m", "labtools.testing.minikube")
    }


def test_a_diff_is_done_with_exit_code_1_and_reads_the_tutors_file() -> None:
    lab = one_lab("{name: d, manifest: {template: basics/x.yaml, diff: true}, check: history}")
    step = lab.phases["setup"][0]
    own = ("kubectl", "--context", "c", "diff", "-f", "-")
    probe = build_probe(step, {}, CTX, own_command=own, ok_codes=(0, 1))
    assert probe.words == ("kubectl", "--context", "c", "diff", "-f")
    typed = "kubectl --context c diff -f /p/.labtools/tutor/files/setup-d.yaml"
    assert judge_history(probe.words, [LoggedCommand(1, typed)], probe.ok_codes).passed
    failed = judge_history(probe.words, [LoggedCommand(2, typed)], probe.ok_codes)
    assert not failed.passed
    assert str(failed.detail) == f"`{typed}` exited with 2"
