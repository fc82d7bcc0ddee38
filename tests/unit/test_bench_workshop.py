"""bench/bench_workshop.py's replay: which host each logged kubectl call belongs to, and the
shell line that runs it again (the script the workshop benchmark compares labtools with)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_workshop import Call, host_of, per_host_calls, replay_line

HOSTS = ["lab-01", "lab-02"]
ADMIN = "/w/cluster/kubeconfig"


@pytest.mark.parametrize(
    ("words", "kubeconfig", "host"),
    [
        (["--context", "lab-02", "get", "pods"], "", "lab-02"),
        (["--context=lab-01", "-n", "default", "exec", "p", "--", "env"], "", "lab-01"),
        (["-n", "lab-02", "get", "pods"], "", "lab-02"),
        (["--namespace=lab-01", "get", "pods"], "", "lab-01"),
        (["--kubeconfig", "/p/runs/participants/lab-02.kubeconfig", "get", "pods"], "", "lab-02"),
        (["get", "pods"], "/p/runs/participants/lab-01.kubeconfig", "lab-01"),
        (["--context", "training", "apply", "-f", "-"], ADMIN, None),
        (["--context", "lab-010", "get", "pods"], "", None),  # not a prefix match
    ],
)
def test_a_call_belongs_to_the_host_it_names(
    words: list[str], kubeconfig: str, host: str | None
) -> None:
    assert host_of(Call(kubeconfig, words), HOSTS) == host


def test_calls_naming_no_host_made_once_per_host_are_shared_out_and_probes_left_out() -> None:
    apply = ["--kubeconfig", ADMIN, "--context", "training", "apply", "-f", "-"]
    calls = [
        Call("", ["version", "--client", "-o", "json"]),  # the preflight's: not replayed
        Call("/p/lab-01.kubeconfig", ["config", "view", "-o", "jsonpath={.current-context}"]),
        Call("", apply),
        Call("", apply),
        Call("", ["-n", "lab-02", "create", "token", "student"]),
        Call("", ["-n", "lab-01", "create", "token", "student"]),
        Call("", ["--kubeconfig", ADMIN, "config", "get-contexts", "-o", "name"]),  # a probe
        Call("", ["--kubeconfig", ADMIN, "get", "namespaces"]),  # once, for no one host
    ]
    shared = per_host_calls(calls, HOSTS)
    # the k-th unnamed call goes to the k-th host to appear (lab-02 appears first here)
    assert shared == [
        ("lab-02", Call("", apply)),
        ("lab-01", Call("", apply)),
        ("lab-02", calls[4]),
        ("lab-01", calls[5]),
    ]


def run_line(line: str, tmp_path: Path) -> list[str]:
    """The arguments the replayed line gives its program (a printf that echoes them)."""
    out = subprocess.run(
        ["sh", "-c", f"POD_NAME=app-5d9c7f8b6d-x7k2p\n{line.replace(' >/dev/null 2>&1', '')}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    return out.stdout.splitlines()


def test_a_replayed_line_has_the_same_arguments_the_pod_of_the_replay_and_its_kubeconfig(
    tmp_path: Path,
) -> None:
    echo = tmp_path / "echo-args"
    echo.write_text('#!/bin/sh\necho "KUBECONFIG=$KUBECONFIG"\nprintf "%s\\n" "$@"\n')
    echo.chmod(0o755)
    words = ["exec", "kubernetes-bootcamp-6db986b4d4-r52zp", "--", "sh", "-c", "echo 'a b'"]
    line = replay_line(str(echo), Call("/p/lab 01.kubeconfig", words), tmp_path / "failed")
    assert run_line(line, tmp_path) == [
        "KUBECONFIG=/p/lab 01.kubeconfig",
        "exec",
        "app-5d9c7f8b6d-x7k2p",  # the replay's own pod: the run's is gone
        "--",
        "sh",
        "-c",
        "echo 'a b'",
    ]


def test_the_pod_names_listing_sets_pod_name_and_a_failed_call_is_written_down(
    tmp_path: Path,
) -> None:
    lister = tmp_path / "list-pods"
    lister.write_text("#!/bin/sh\necho app-5d9c7f8b6d-aaaaa\necho app-5d9c7f8b6d-bbbbb\n")
    lister.chmod(0o755)
    listing = ["get", "pods", "-l", "app=x", "-o", "go-template", "--template", "{{.}}"]
    line = replay_line(str(lister), Call("", listing), tmp_path / "failed")
    shown = subprocess.run(
        ["sh", "-c", f'{line}\necho "$POD_NAME"'], capture_output=True, text=True, check=True
    )
    assert shown.stdout == "app-5d9c7f8b6d-aaaaa\n"
    failed = tmp_path / "failed"
    line = replay_line("false", Call("", ["get", "pods"]), failed)
    subprocess.run(["sh", "-c", line], check=True)
    assert failed.read_text() == "get pods\n"


def test_a_manifest_comes_from_its_file_and_a_proxy_runs_in_the_background(
    tmp_path: Path,
) -> None:
    apply = replay_line("kubectl", Call("", ["apply", "-f", "-"]), tmp_path / "f", Path("/m.yaml"))
    assert " < /m.yaml " in apply
    proxy = replay_line("kubectl", Call("", ["proxy", "--port=0"]), tmp_path / "f")
    assert proxy.endswith('& PROXIES="$PROXIES $!"')
