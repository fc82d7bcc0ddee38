"""Providers: argv building, status/profile parsing, idempotence probes, auto resolution."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from labtools.core.errors import ConfigError, ProviderError
from labtools.core.model import Host
from labtools.core.results import Output
from labtools.providers import get_provider, provider_for, resolve_provider
from labtools.providers.minikube import parse_profiles, parse_status, profile_names

RUNNING = (
    '{"Name":"basics","Host":"Running","Kubelet":"Running","APIServer":"Running",'
    '"Kubeconfig":"Configured","Worker":false}'
)
STOPPED = (
    '{"Name":"p","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped",'
    '"Kubeconfig":"Stopped","Worker":false}'
)
MISCONFIGURED = RUNNING.replace('"Configured"', '"Misconfigured"')
MULTI_NODE = (
    f'[{RUNNING},{{"Name":"basics-m02","Host":"Running","Kubelet":"Running",'
    '"APIServer":"Irrelevant","Kubeconfig":"Irrelevant","Worker":true}]'
)
NOT_FOUND_EVENTS = (
    '{"specversion":"1.0","id":"1","source":"https://minikube.sigs.k8s.io/",'
    '"type":"io.k8s.sigs.minikube.info","datacontenttype":"application/json",'
    '"data":{"message":"Profile \\"basics\\" not found. Run \\"minikube profile list\\" '
    'to view all profiles."}}\n'
)
PROFILES = (
    '{"invalid":[],"valid":[{"Name":"minikube","Status":"Stopped","Config":{"Name":"minikube",'
    '"Memory":3890,"CPUs":2,"DiskSize":20000,"Driver":"docker","KubernetesConfig":'
    '{"KubernetesVersion":"v1.20.0","ClusterName":"minikube","Namespace":"default"},'
    '"Nodes":[{"Name":"","IP":"192.168.49.2","Port":8443,"ControlPlane":true,"Worker":true}]},'
    '"Active":false,"ActiveKubeContext":false},{"Name":"basics","Status":"OK","Config":{}}]}'
)
EMPTY_PROFILES = '{"invalid":[],"valid":[]}'


def host(name: str = "basics", provider: str = "minikube", **vars: Any) -> Host:
    """A host with the given vars."""
    return Host(name=name, provider=provider, vars=vars)


@pytest.mark.parametrize(
    ("vars", "args", "expected"),
    [
        ({}, ["get", "pods"], ("kubectl", "--context", "basics", "get", "pods")),
        ({"profile": "p1"}, ["get", "nodes"], ("kubectl", "--context", "p1", "get", "nodes")),
        (
            {"namespace": "default"},
            ["get", "pods"],
            ("kubectl", "--context", "basics", "get", "pods"),
        ),
        (
            {"namespace": "team a"},
            ["get", "pods"],
            ("kubectl", "--context", "basics", "-n", "team a", "get", "pods"),
        ),
        (
            {"kubectl_bin": "/opt/k b/kubectl"},
            ["label", "pods", "x", "note=a b; $(rm -rf /)"],
            (
                "/opt/k b/kubectl",
                "--context",
                "basics",
                "label",
                "pods",
                "x",
                "note=a b; $(rm -rf /)",
            ),
        ),
    ],
)
def test_minikube_kubectl_argv(
    vars: dict[str, Any], args: list[str], expected: tuple[str, ...]
) -> None:
    assert get_provider("minikube").kubectl(host(**vars), args) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["version"], ("minikube", "version", "-p", "basics")),
        (["ip"], ("minikube", "ip", "-p", "basics")),
        (
            ["kubectl", "--", "get", "pods", "-p", "x"],
            ("minikube", "kubectl", "-p", "basics", "--", "get", "pods", "-p", "x"),
        ),
        (
            ["service", "my svc", "--url"],
            ("minikube", "service", "my svc", "--url", "-p", "basics"),
        ),
    ],
)
def test_minikube_argv_keeps_profile_before_dashdash(
    args: list[str], expected: tuple[str, ...]
) -> None:
    assert get_provider("minikube").minikube(host(), args) == expected


def test_minikube_env_sets_kubeconfig_only_when_asked() -> None:
    provider = get_provider("minikube")
    assert "KUBECONFIG" not in provider.env(host())
    assert provider.env(host(kubeconfig="/tmp/k c"))["KUBECONFIG"] == "/tmp/k c"
    assert provider.env(host())["MINIKUBE_IN_STYLE"] == "false"


def test_minikube_start_passes_only_the_flags_the_inventory_sets() -> None:
    op = get_provider("minikube").cluster(host(), "start")
    assert op.probe == ("minikube", "status", "-o", "json", "-p", "basics")
    assert op.run == (
        "minikube",
        "start",
        "--wait=apiserver,system_pods,default_sa,node_ready",
        "--output",
        "json",
        "--keep-context",
        "-p",
        "basics",
    )
    assert op.progress == "minikube-json"
    assert op.timeout == 900.0


def test_minikube_start_with_every_setting() -> None:
    vars = {
        "profile": "lab 01",
        "driver": "docker",
        "cpus": 4,
        "memory": "4g",
        "disk_size": "30g",
        "kubernetes_version": "v1.32.0",
        "container_runtime": "containerd",
        "addons": ["metrics-server", "ingress"],
        "extra_start_args": ["--image-mirror-country", "cn"],
        "start_timeout": 1200,
    }
    op = get_provider("minikube").cluster(host(**vars), "start")
    assert op.run is not None
    run = op.run
    assert run[:2] == ("minikube", "start")
    assert run[-2:] == ("-p", "lab 01")
    pairs = {run[i]: run[i + 1] for i in range(len(run) - 1) if run[i].startswith("--")}
    assert pairs["--driver"] == "docker"
    assert pairs["--cpus"] == "4"
    assert pairs["--memory"] == "4g"
    assert pairs["--disk-size"] == "30g"
    assert pairs["--kubernetes-version"] == "v1.32.0"
    assert pairs["--container-runtime"] == "containerd"
    assert pairs["--addons"] == "metrics-server,ingress"
    assert pairs["--image-mirror-country"] == "cn"
    assert "--keep-context" in run
    assert op.timeout == 1200.0
    # a workshop machine's participant has a kubeconfig file of their own: its context is made
    # current there (the user's own kubeconfig never has its current context switched)
    own = get_provider("minikube").cluster(host(**vars, isolation=True), "start")
    assert own.run is not None
    assert "--keep-context" not in own.run


def test_addons_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match="addons"):
        get_provider("minikube").cluster(host(addons={"a": 1}), "start")


@pytest.mark.parametrize(
    ("out", "done"),
    [
        (Output(0, RUNNING, ""), True),
        (Output(0, MULTI_NODE, ""), True),
        (Output(7, STOPPED, ""), False),
        (Output(4, MISCONFIGURED, ""), False),
        (Output(85, NOT_FOUND_EVENTS, ""), False),
        (Output(0, "not json", ""), False),
    ],
)
def test_start_probe(out: Output, done: bool) -> None:
    op = get_provider("minikube").cluster(host(), "start")
    assert op.is_done is not None
    assert op.is_done(out) is done


@pytest.mark.parametrize(
    ("minikube_home", "base"),
    [(None, "~/.minikube"), ("/srv/mk", "/srv/mk/.minikube"), ("/srv/.minikube", "/srv/.minikube")],
)
def test_start_asks_the_status_only_of_a_profile_that_exists(
    monkeypatch: pytest.MonkeyPatch, minikube_home: str | None, base: str
) -> None:
    # minikube's localpath.MiniPath: $MINIKUBE_HOME gets `.minikube` appended unless it ends so
    import os

    if minikube_home is None:
        monkeypatch.delenv("MINIKUBE_HOME", raising=False)
    else:
        monkeypatch.setenv("MINIKUBE_HOME", minikube_home)
    op = get_provider("minikube").cluster(host(), "start")
    expected = os.path.join(os.path.expanduser(base), "profiles", "basics", "config.json")
    assert op.probe_needs == (expected,)
    fake = get_provider("fake").cluster(host(fake_home="/p/.labtools/fake-minikube"), "start")
    assert fake.probe_needs == ("/p/.labtools/fake-minikube/.minikube/profiles/basics/config.json",)


@pytest.mark.parametrize(
    ("out", "done"),
    [
        (Output(7, STOPPED, ""), True),
        (Output(85, NOT_FOUND_EVENTS, ""), True),
        (Output(0, RUNNING, ""), False),
    ],
)
def test_stop_probe(out: Output, done: bool) -> None:
    op = get_provider("minikube").cluster(host(), "stop")
    assert op.run == ("minikube", "stop", "-p", "basics")
    assert op.is_done is not None
    assert op.is_done(out) is done


@pytest.mark.parametrize(
    ("out", "done"),
    [
        (Output(0, EMPTY_PROFILES, ""), True),
        (Output(0, PROFILES, ""), False),
        (Output(0, PROFILES.replace('"basics"', '"other"'), ""), True),
        (Output(80, '{"error":"boom"}', ""), False),
    ],
)
def test_delete_probe(out: Output, done: bool) -> None:
    op = get_provider("minikube").cluster(host(), "delete")
    assert op.probe == ("minikube", "profile", "list", "-o", "json")
    assert op.run == ("minikube", "delete", "-p", "basics")
    assert op.is_done is not None
    assert op.is_done(out) is done


@pytest.mark.parametrize("keep", [True, "yes"])
def test_delete_with_keep_is_skipped(keep: object) -> None:
    op = get_provider("minikube").cluster(host(keep=keep), "delete")
    assert op.run is None
    assert op.skip_reason is not None
    assert "keep" in op.skip_reason


def test_status_op_is_ok_when_running_and_reruns_otherwise() -> None:
    op = get_provider("minikube").cluster(host(), "status")
    assert op.probe == op.run == ("minikube", "status", "-o", "json", "-p", "basics")


def test_unknown_cluster_op() -> None:
    with pytest.raises(ConfigError, match="restart"):
        get_provider("minikube").cluster(host(), "restart")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RUNNING, "Running"),
        (STOPPED, "Stopped"),
        (MULTI_NODE, "Running"),
        (NOT_FOUND_EVENTS, None),
        ("", None),
    ],
)
def test_parse_status(text: str, expected: str | None) -> None:
    assert parse_status(text).get("Host") == expected


def test_parse_profiles() -> None:
    profiles = parse_profiles(PROFILES)
    assert [p["Name"] for p in profiles] == ["minikube", "basics"]
    assert profiles[0]["Config"]["Memory"] == 3890
    assert profile_names(EMPTY_PROFILES) == []
    assert profile_names('{"error":"x"}') == []


CTX = {"kube_context": "kind-dev", "kubeconfig": "/home/u/my kube/config", "isolation": False}
ADMIN = ("kubectl", "--kubeconfig", "/home/u/my kube/config", "--context", "kind-dev")


@pytest.mark.parametrize(
    ("vars", "expected"),
    [
        (CTX, (*ADMIN, "-n", "lab-basics", "get", "pods")),
        ({**CTX, "namespace": "default"}, (*ADMIN, "-n", "default", "get", "pods")),
    ],
)
def test_context_kubectl_argv(vars: dict[str, Any], expected: tuple[str, ...]) -> None:
    provider = get_provider("context")
    assert provider.kubectl(host(provider="context", **vars), ["get", "pods"]) == expected
    assert provider.env(host(provider="context", **vars)) == {
        "KUBECONFIG": "/home/u/my kube/config"
    }


def test_context_needs_kube_context() -> None:
    with pytest.raises(ConfigError, match="kube_context"):
        get_provider("context").kubectl(host(provider="context"), ["get", "pods"])


def test_context_has_no_minikube() -> None:
    provider = get_provider("context")
    assert provider.has_minikube is False
    with pytest.raises(ProviderError, match="no minikube"):
        provider.minikube(host(provider="context", **CTX), ["ip"])


def test_context_start_creates_the_lab_namespace() -> None:
    op = get_provider("context").cluster(host(provider="context", **CTX), "start")
    assert op.probe == (*ADMIN, "get", "namespace", "lab-basics", "-o", "name")
    assert op.run == (*ADMIN, "create", "namespace", "lab-basics")
    assert op.is_done is not None
    assert op.is_done(Output(0, "namespace/lab-basics\n", ""))
    assert not op.is_done(Output(1, "", 'Error from server (NotFound): namespaces "x" not found'))


def test_context_delete_removes_the_lab_namespace() -> None:
    op = get_provider("context").cluster(host(provider="context", **CTX), "delete")
    assert op.run == (*ADMIN, "delete", "namespace", "lab-basics", "--wait=true")
    assert op.is_done is not None
    not_found = 'Error from server (NotFound): namespaces "lab-basics" not found\n'
    assert op.is_done(Output(1, "", not_found))
    assert not op.is_done(Output(0, "namespace/lab-basics\n", ""))
    assert not op.is_done(Output(1, "", "Unable to connect to the server"))


@pytest.mark.parametrize(
    ("vars", "reason"),
    [({"keep": True}, "keep"), ({"namespace": "kube-system"}, "belongs to the cluster")],
)
def test_context_delete_skips(vars: dict[str, Any], reason: str) -> None:
    op = get_provider("context").cluster(host(provider="context", **CTX, **vars), "delete")
    assert op.run is None
    assert op.skip_reason is not None
    assert reason in op.skip_reason


def test_fake_runs_the_fake_minikube_in_its_own_home(tmp_path: Any) -> None:
    provider = get_provider("fake")
    h = host(provider="fake", project_root=str(tmp_path))
    assert provider.minikube(h, ["ip"]) == (
        sys.executable,
        "-m",
        "labtools.testing.minikube",
        "ip",
        "-p",
        "basics",
    )
    env = provider.env(h)
    assert env["MINIKUBE_HOME"] == str(tmp_path / ".labtools" / "fake-minikube")
    assert env["KUBECONFIG"] == str(tmp_path / ".labtools" / "fake-minikube" / "kubeconfig")
    assert provider.kubectl(h, ["get", "pods"]) == ("kubectl", "--context", "basics", "get", "pods")
    op = provider.cluster(h, "delete")
    assert op.probe == (
        sys.executable,
        "-m",
        "labtools.testing.minikube",
        "profile",
        "list",
        "-o",
        "json",
    )


def test_fake_home_vars_win(tmp_path: Any) -> None:
    h = host(provider="fake", fake_home=str(tmp_path / "h"), fake_kubeconfig=str(tmp_path / "k"))
    env = get_provider("fake").env(h)
    assert env["MINIKUBE_HOME"] == str(tmp_path / "h")
    assert env["KUBECONFIG"] == str(tmp_path / "k")
    assert env["KUBECACHEDIR"] == str(tmp_path / "h" / "kube-cache")


def test_fake_keeps_kubectls_cache_out_of_home(tmp_path: Any) -> None:
    # kubectl honours KUBECACHEDIR (else ~/.kube/cache, one discovery dir per server port)
    env = get_provider("fake").env(host(provider="fake", project_root=str(tmp_path)))
    assert env["KUBECACHEDIR"] == str(tmp_path / ".labtools" / "fake-minikube" / "kube-cache")


@pytest.mark.parametrize("name", ["minikube", "context", "fake"])
def test_every_provider_call_names_its_cluster(name: str) -> None:
    provider = get_provider(name)
    h = host(provider=name, **CTX)
    argvs = [provider.kubectl(h, ["get", "pods"])]
    for op_name in ("start", "stop", "delete", "status"):
        op = provider.cluster(h, op_name)
        argvs += [argv for argv in (op.probe, op.run) if argv]
    for argv in argvs:
        if "kubectl" in argv[0]:
            assert "--context" in argv
        elif "profile" not in argv:
            assert "-p" in argv
        assert "use-context" not in argv


def test_unknown_provider_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'minikube'"):
        get_provider("minikub")


@pytest.mark.parametrize(
    ("provider", "on_path", "expected", "banner"),
    [
        ("auto", {"minikube": "/usr/bin/minikube"}, "minikube", False),
        ("auto", {}, "fake", True),
        ("minikube", {}, "minikube", False),
        ("context", {}, "context", False),
    ],
)
def test_resolve_provider(
    provider: str, on_path: dict[str, str], expected: str, banner: bool
) -> None:
    name, text = resolve_provider(host(provider=provider), which=on_path.get)
    assert name == expected
    assert (text is not None) is banner
    if text:
        assert "FAKE" in text
        assert "basics" in text


def test_resolve_provider_uses_minikube_bin() -> None:
    h = host(provider="auto", minikube_bin="/opt/mk")
    assert resolve_provider(h, which={"/opt/mk": "/opt/mk"}.get) == ("minikube", None)
    provider, banner = provider_for(h, which=lambda _name: None)
    assert provider.name == "fake"
    assert banner is not None
