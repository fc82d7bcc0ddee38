"""actions.py: steps rendered into actions and plan lines (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from labtools.core import actions
from labtools.core.actions import Context, HttpCheck, RunCommand, Skip, StartService, Wait
from labtools.core.errors import Location, TemplateError
from labtools.core.model import Host, Step
from labtools.core.preview import preview_step
from labtools.core.render import Unresolved
from labtools.providers.base import ClusterOp

LOC = Location("playbooks/t.yml", 7)
HOST = Host("h1", "stub", {})


class StubProvider:
    """Builds argv like a real provider would; runs nothing."""

    name = "stub"

    def __init__(self, has_minikube: bool = True) -> None:
        self.has_minikube = has_minikube

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("kubectl", "--context", host.name, *args)

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("minikube", "-p", host.name, *args)

    def env(self, host: Host) -> Mapping[str, str]:
        return {"KUBECONFIG": "/tmp/kc"}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        if op == "stop":
            return ClusterOp(name=op, skip_reason="cannot stop here")
        return ClusterOp(name=op, probe=("minikube", "status"), run=("minikube", op))


def step(action: str, spec: Any, **controls: Any) -> Step:
    return Step(name="s", phase="deploy", action=action, spec=spec, source=LOC, **controls)


def build(s: Step, variables: Mapping[str, Any] | None = None, **ctx: Any) -> actions.Action:
    context = Context(host=HOST, provider=ctx.pop("provider", StubProvider()), **ctx)
    return actions.build(s, variables or {}, context)


@pytest.mark.parametrize(
    ("action", "spec", "argv", "readonly"),
    [
        (
            "kubectl",
            "get pods -o name",
            ("kubectl", "--context", "h1", "get", "pods", "-o", "name"),
            True,
        ),
        (
            "kubectl",
            "create deployment x",
            ("kubectl", "--context", "h1", "create", "deployment", "x"),
            False,
        ),
        (
            "kubectl",
            "rollout status deploy/x",
            ("kubectl", "--context", "h1", "rollout", "status", "deploy/x"),
            True,
        ),
        (
            "kubectl",
            "rollout restart deploy/x",
            ("kubectl", "--context", "h1", "rollout", "restart", "deploy/x"),
            False,
        ),
        ("minikube", "service x --url", ("minikube", "-p", "h1", "service", "x", "--url"), True),
        ("minikube", "addons enable x", ("minikube", "-p", "h1", "addons", "enable", "x"), False),
        ("command", "cat {{ f }}", ("cat", "a b;$(x)"), False),
    ],
)
def test_run_actions_argv_and_readonly(
    action: str, spec: str, argv: tuple[str, ...], readonly: bool
) -> None:
    built = build(step(action, spec), {"f": "a b;$(x)"})
    assert isinstance(built, RunCommand)
    assert built.command.argv == argv
    assert built.readonly is readonly
    assert built.command.env["KUBECONFIG"] == "/tmp/kc"


@pytest.mark.parametrize(
    ("controls", "variables", "timeout"),
    [
        ({}, {}, 120.0),
        ({}, {"command_timeout": 9}, 9.0),
        ({"timeout": 3}, {"command_timeout": 9}, 3.0),
    ],
)
def test_timeout_precedence(
    controls: dict[str, Any], variables: dict[str, Any], timeout: float
) -> None:
    built = build(step("command", "true", **controls), variables)
    assert isinstance(built, RunCommand)
    assert built.command.timeout == timeout


@pytest.mark.parametrize(
    ("s", "provider", "tty", "reason"),
    [
        (
            step("minikube", "status"),
            StubProvider(has_minikube=False),
            False,
            "provider stub has no minikube",
        ),
        (
            step("command", "bash", interactive=True),
            StubProvider(),
            False,
            actions.INTERACTIVE_SKIP,
        ),
        (step("cluster", "stop"), StubProvider(), False, "cannot stop here"),
    ],
)
def test_skips(s: Step, provider: StubProvider, tty: bool, reason: str) -> None:
    assert build(s, provider=provider, tty=tty) == Skip(reason)


def test_interactive_with_a_tty_runs() -> None:
    built = build(step("command", "bash", interactive=True), tty=True)
    assert isinstance(built, RunCommand)
    assert built.interactive
    # thirty participants' shells one after the other is nobody's lab: one host at a time
    many = build(step("command", "bash", interactive=True), tty=True, hosts=30)
    assert isinstance(many, Skip)
    assert "an interactive step is for one host at a time and this run has 30" in str(many.reason)
    assert "--limit HOST" in str(many.reason)


def test_service_port_is_chosen_then_rendered() -> None:
    spec = {
        "name": "proxy",
        "kubectl": "proxy --port={{ port }}",
        "port": "{{ proxy_port }}",
        "ready": {"http": "http://127.0.0.1:{{ port }}/version"},
    }
    seen: list[int | None] = []

    def choose(port: int | None) -> int:
        seen.append(port)
        return 18123

    built = build(step("service", spec), {"proxy_port": 8001}, choose_port=choose)
    assert seen == [8001]
    assert isinstance(built, StartService)
    assert built.command.argv[-2:] == ("proxy", "--port=18123")
    assert built.ready_http == "http://127.0.0.1:18123/version"
    assert built.port == 18123
    assert built.name == "proxy"


def test_http_and_wait() -> None:
    built = build(
        step("http", {"url": "http://x/{{ p }}", "status": 204, "contains": "hi"}), {"p": "v"}
    )
    assert built == HttpCheck(url="http://x/v", status=204, contains="hi")
    assert build(step("wait", "{{ n }}"), {"n": 2}) == Wait(2.0)


def test_manifest_is_applied_from_stdin(tmp_path: Path) -> None:
    (tmp_path / "ns.yml.j2").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ ns }}\n"
    )
    built = build(step("manifest", "ns.yml.j2"), {"ns": "lab"}, templates_dir=tmp_path)
    assert isinstance(built, RunCommand)
    assert built.command.argv == ("kubectl", "--context", "h1", "apply", "-f", "-")
    assert "name: lab" in (built.command.stdin or "")


def test_template_error_names_the_file() -> None:
    with pytest.raises(TemplateError) as info:
        build(step("command", "echo {{ missing }}"))
    assert "playbooks/t.yml:7" in info.value.format()


@pytest.mark.parametrize(
    ("s", "variables", "display"),
    [
        (step("kubectl", "get pods"), {}, "kubectl --context h1 get pods"),
        (step("command", "echo {{ msg }}"), {"msg": "a b"}, "echo 'a b'"),
        (
            step("command", "login --password={{ pw }} now", no_log=True),
            {"pw": "hunter2"},
            "login '********' now",
        ),
        (step("command", "echo {{ r.stdout }}"), {"r": Unresolved("r")}, "echo '<r.stdout>'"),
        (step("cluster", "start"), {}, "cluster start: minikube status || minikube start"),
    ],
)
def test_preview_display(s: Step, variables: dict[str, Any], display: str) -> None:
    planned = preview_step(s, variables, HOST, StubProvider())
    assert planned.display == display
    assert "hunter2" not in planned.display


def test_preview_notes() -> None:
    s = step("command", "true", when="x", register="r", tags=("a", "b"))
    assert preview_step(s, {}, HOST, StubProvider()).notes == (
        "when: x",
        "register: r",
        "tags: a, b",
    )


@pytest.mark.parametrize(
    ("spec", "args", "readonly", "ok_codes"),
    [
        ("cm.yaml.j2", ("apply", "-f", "-"), False, (0,)),
        (
            {"template": "cm.yaml.j2", "server_side": True},
            ("apply", "--server-side", "-f", "-"),
            False,
            (0,),
        ),
        ({"template": "cm.yaml.j2", "diff": True}, ("diff", "-f", "-"), True, (0, 1)),
        (
            {"template": "cm.yaml.j2", "diff": True, "server_side": True},
            ("diff", "--server-side", "-f", "-"),
            True,
            (0, 1),
        ),
    ],
)
def test_manifest_apply_or_diff(
    tmp_path: Path, spec: Any, args: tuple[str, ...], readonly: bool, ok_codes: tuple[int, ...]
) -> None:
    (tmp_path / "cm.yaml.j2").write_text("kind: ConfigMap\ndata:\n  a: {{ a | to_json }}\n")
    built = build(step("manifest", spec), {"a": "x"}, templates_dir=tmp_path)
    assert isinstance(built, RunCommand)
    assert built.command.argv == ("kubectl", "--context", "h1", *args)
    assert built.command.stdin == 'kind: ConfigMap\ndata:\n  a: "x"\n'
    assert (built.readonly, built.ok_codes) == (readonly, ok_codes)
    shown = f"kubectl --context h1 {' '.join(args)} < templates/cm.yaml.j2"
    assert actions.display_text(built) == shown
    without_project = preview_step(step("manifest", spec), {}, HOST, StubProvider())  # type: ignore[arg-type]
    assert without_project.display == shown


def test_verify_runs_pytest_with_only_the_plugins_it_names(tmp_path: Path) -> None:
    from labtools.core.model import Lab

    lab = Lab("basics", str(tmp_path / "playbooks/basics/playbook.yml"), folder=str(tmp_path))
    action = build(step("verify", "basics"), {"project_root": str(tmp_path)}, lab=lab)
    assert isinstance(action, RunCommand)
    # no auto-loaded pytest11 plugins (hypothesis, the fake cluster's fixtures ...) ...
    assert action.command.env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1"
    # ... so the one the checks need is named on the command line
    argv = action.command.argv
    assert argv[argv.index("-p") + 1] == "labtools.verify.plugin"
