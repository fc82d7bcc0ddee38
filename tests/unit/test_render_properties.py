"""Property: an interpolated value never changes the shape of argv, whatever it holds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from labtools.core.render import render_argv

# argv cannot carry NUL; everything else (quotes, ;, $(), backticks, newlines, unicode) is fair
values = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))

TEMPLATES = [
    "echo {{ v }}",
    "kubectl create deployment {{ v }} --image={{ v }}",
    "curl -s 'http://h/{{ v }}' -H \"X: {{ v }}\"",
    "sh -c {{ v }} -- {{ v }}{{ v }} tail",
    "{{ v }}",
    "a '' {{ v }} \"\"",
]


def _expected(template: str, value: str) -> tuple[str, ...]:
    """argv with a benign value, then the benign value replaced by the real one."""
    benign = render_argv(template, {"v": "BENIGN"})
    return tuple(word.replace("BENIGN", value) for word in benign)


@pytest.mark.parametrize("template", TEMPLATES)
@settings(max_examples=60, deadline=None)
@given(value=values)
def test_value_lands_verbatim_in_place(template: str, value: str) -> None:
    argv = render_argv(template, {"v": value})
    expected = _expected(template, value)
    assert len(argv) == len(expected)
    assert argv == expected


@settings(max_examples=60, deadline=None)
@given(first=values, second=values)
def test_two_values_keep_their_order(first: str, second: str) -> None:
    argv = render_argv("cmd {{ a }} --x {{ b }}", {"a": first, "b": second})
    assert argv == ("cmd", first, "--x", second)


# --- every action that builds argv: the same property, through the providers ----------------

# what a value may hold here: NUL too (it stays one argument; starting the command then fails
# with a clear error, tests/unit/test_process.py), and what a shell or a flag parser would read
HOSTILE = [
    "two words",
    "it's",
    '"quoted"',
    "a; rm -rf /",
    "$(touch /tmp/pwned)",
    "`id`",
    "line\nbreak",
    "--flag=x",
    "-n",
    "--",
    "-",
    "",
    " ",
    "ünïcødé 漢字",
    "nul\x00byte",
    "{{ not_a_template }}",
    "%41%zz",
    "a b\r\nX-Injected: 1",
]
hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=("Cs",))),
)
PROVIDERS = ("minikube", "fake", "context")


def _host(provider: str, **settings_: str) -> Any:
    from labtools.core.model import Host

    base = {"provider": provider, "profile": "p1", "kube_context": "ctx1", "namespace": "ns1"}
    return Host("lab-01", provider, {**base, **settings_}, ("workshop",))


def _step(action: str, spec: Any, **controls: Any) -> Any:
    from labtools.core.errors import Location
    from labtools.core.model import Step

    where = Location("playbook.yml", 3, "deploy[0]")
    return Step(name="s", phase="deploy", action=action, spec=spec, source=where, **controls)


def _build(action: str, spec: Any, value: str, provider: str, templates: Any = None) -> Any:
    from labtools.core.actions import Context, build
    from labtools.providers import get_provider

    host = _host(provider)
    ctx = Context(host=host, provider=get_provider(provider), templates_dir=templates)
    return build(_step(action, spec), {"v": value, "inventory_hostname": host.name}, ctx)


def _same_shape(action: str, spec: Any, value: str, provider: str) -> tuple[Any, Any]:
    """The argv with ``value``, and the argv with a benign value then replaced by it."""
    real = _build(action, spec, value, provider)
    benign = _build(action, spec, "BENIGN", provider)
    return real, benign


ARGV_SPECS = {
    "kubectl": [
        "get pods {{ v }} -l app={{ v }}",
        "create configmap c --from-literal=k={{ v }}",
        "exec {{ v }} -- sh -c {{ v }}",
        ["label", "pod", "{{ v }}", "x={{ v }}"],
    ],
    "minikube": ["ssh -- {{ v }}", "addons enable {{ v }}", "kubectl -- get {{ v }}"],
    "command": ["echo {{ v }}", "curl -s http://h/{{ v }} -H 'X: {{ v }}'", "{{ v }} --help"],
}


def _argv(action: Any) -> tuple[str, ...]:
    return tuple(action.command.argv)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("action", "spec"), [(a, s) for a, specs in ARGV_SPECS.items() for s in specs]
)
@settings(max_examples=40, deadline=None)
@given(value=hostile)
def test_every_command_action_keeps_a_value_one_argument(
    provider: str, action: str, spec: Any, value: str
) -> None:
    from labtools.core.actions import Skip

    real, benign = _same_shape(action, spec, value, provider)
    if isinstance(benign, Skip):  # minikube steps on provider context
        assert isinstance(real, Skip)
        return
    expected = tuple(word.replace("BENIGN", value) for word in _argv(benign))
    if action == "minikube":
        # -p PROFILE goes before the first `--` (a value `--` too), so the profile always
        # reaches minikube: apart from where that pair sits, the shape is the benign one
        assert _without_profile(_argv(real)) == _without_profile(expected)
        assert _profile_before_dashdash(_argv(real))
        return
    assert _argv(real) == expected


def _without_profile(argv: tuple[str, ...]) -> tuple[str, ...]:
    at = argv.index("-p")
    assert argv[at + 1] == "p1"
    return argv[:at] + argv[at + 2 :]


def _profile_before_dashdash(argv: tuple[str, ...]) -> bool:
    return "--" not in argv or argv.index("-p") < argv.index("--")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("tool", ["kubectl", "command"])
@settings(max_examples=40, deadline=None)
@given(value=hostile)
def test_a_service_command_keeps_a_value_one_argument(provider: str, tool: str, value: str) -> None:
    spec = {
        tool: "proxy --port={{ port }} --address={{ v }} {{ v }}",
        "port": 8001,
        "ready": {"http": "http://127.0.0.1:{{ port }}/{{ v }}"},
    }
    real, benign = _same_shape("service", spec, value, provider)
    expected = tuple(word.replace("BENIGN", value) for word in _argv(benign))
    assert _argv(real) == expected


URL_LEGAL = set(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!#$%&'()*+,/:;=?@[]"
)


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [("http://127.0.0.1:8001/api/", "/pods"), ("http://h/x?q=", "&r=1"), ("http://h/", "")],
)
@settings(max_examples=60, deadline=None)
@given(value=hostile)
def test_a_value_in_a_url_stays_in_its_place_encoded(prefix: str, suffix: str, value: str) -> None:
    from urllib.parse import quote

    from labtools.core.actions import URL_SAFE
    from labtools.core.checks import curl_argv

    for spec in (prefix + "{{ v }}" + suffix, {"url": prefix + "{{ v }}" + suffix}):
        action = _build("http", spec, value, "fake")
        assert set(action.url) <= URL_LEGAL, action.url  # no space, newline, NUL, quote
        assert action.url == prefix + quote(value, safe=URL_SAFE) + suffix
        # the curl the tutor shows: one URL argument, last, and the value nowhere else
        benign = curl_argv(_build("http", spec, "BENIGN", "fake"))
        curl = curl_argv(action)
        assert len(curl) == len(benign)
        assert curl[:-1] == benign[:-1]
        assert curl[-1] == action.url


PATHS = [
    "cm.yaml",
    "./cm.yaml",
    "../outside.yaml",
    "../../outside.yaml",
    "/../outside.yaml",
    "..",
    "../lab/cm.yaml",
    "/etc/passwd",
    "cm.yaml\x00",
    "cm.yaml/../../outside.yaml",
]
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\n"


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.sampled_from(PATHS), hostile))
@example(value="../outside.yaml")
@example(value="./cm.yaml")
def test_a_value_in_a_manifest_path_never_leaves_templates(
    tmp_path_factory: Any, value: str
) -> None:
    """``manifest: lab/{{ v }}``: the file read is under templates/ or the step fails to
    load; the path is never an argument (the manifest goes to `kubectl apply -f -`)."""
    from labtools.core.errors import TemplateError
    from labtools.providers import get_provider

    templates = tmp_path_factory.getbasetemp() / "manifest-project" / "templates"
    (templates / "lab").mkdir(parents=True, exist_ok=True)
    (templates / "lab" / "cm.yaml").write_text(CONFIGMAP)
    (templates.parent / "outside.yaml").write_text("apiVersion: v1\nkind: Secret\n")
    (templates / "outside.yaml").write_text("apiVersion: v1\nkind: Secret\n")
    for provider in PROVIDERS:
        try:
            action = _build("manifest", "lab/{{ v }}", value, provider, templates)
        except TemplateError as exc:
            refused = exc.message
        else:
            refused = ""
        if refused:
            assert "not found" in refused, refused
            continue
        assert action.command.stdin == CONFIGMAP  # the one file under templates/lab/
        assert _argv(action) == get_provider(provider).kubectl(
            _host(provider), ("apply", "-f", "-")
        )


@pytest.mark.parametrize(
    ("setting", "flag", "provider"),
    [
        ("kube_context", "--context", "minikube"),
        ("kube_context", "--context", "fake"),
        ("kube_context", "--context", "context"),
        ("namespace", "-n", "minikube"),
        ("namespace", "-n", "context"),
        ("profile", "-p", "minikube"),
        ("profile", "-p", "fake"),
    ],
)
@settings(max_examples=40, deadline=None)
@given(value=hostile.filter(lambda v: v not in ("", "default")))
def test_provider_flags_carry_a_value_as_one_argument(
    setting: str, flag: str, provider: str, value: str
) -> None:
    """--context/-n/-p values (inventory, --set), in every command the provider builds
    (kubectl, minikube, the cluster operations' probes and runs): the value is one argument
    where a benign one is, right after its flag, and -p comes before any `--`."""
    real = _provider_commands(provider, _host(provider, **{setting: value}))
    benign = _provider_commands(provider, _host(provider, **{setting: "BENIGN"}))
    assert len(real) == len(benign)
    for argv, shape in zip(real, benign, strict=True):
        assert argv == tuple(value if word == "BENIGN" else word for word in shape)
        if flag in shape and shape[shape.index(flag) + 1] == "BENIGN":
            assert argv[shape.index(flag) + 1] == value
        if "--" in shape and "-p" in shape:
            assert shape.index("-p") < shape.index("--")


def _provider_commands(provider: str, host: Any) -> list[tuple[str, ...]]:
    from labtools.providers import get_provider

    chosen = get_provider(provider)
    commands = [chosen.kubectl(host, ("get", "pods"))]
    if chosen.has_minikube:
        commands += [chosen.minikube(host, ("ssh", "--", "x")), chosen.minikube(host, ("ip",))]
    for op in ("start", "stop", "delete", "status"):
        cluster = chosen.cluster(host, op)
        commands += [tuple(argv) for argv in (cluster.probe, cluster.run) if argv]
    return commands
