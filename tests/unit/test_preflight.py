"""Preflight: problems from facts (table-driven), and run_preflight with real stand-in binaries."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import Location, PreflightError
from labtools.core.model import Host
from labtools.core.results import Output
from labtools.providers import get_provider
from labtools.providers.base import Facts
from labtools.providers.minikube_checks import size_mb
from labtools.providers.preflight import (
    access_problems,
    check,
    effective_kubeconfig,
    gather_facts,
    mem_available_mb,
    run_preflight,
)

SRC = Location("inventory.yml", 12)
GOOD = Facts(
    binaries={"kubectl": "/usr/bin/kubectl", "minikube": "/usr/bin/minikube", "docker": "/d"},
    versions={"kubectl": "v1.32.4", "minikube": "v1.37.0"},
    cpu_count=8,
    mem_available_mb=16000,
    disk_free_mb=100000,
    drivers={"docker": True},
)


def host(provider: str = "minikube", **vars: Any) -> Host:
    """Host lab-01 from inventory.yml:12."""
    return Host("lab-01", provider, vars, source=SRC)


def facts(**changes: Any) -> Facts:
    """GOOD facts with some fields changed."""
    return Facts(**{**GOOD.__dict__, **changes})


@pytest.mark.parametrize(
    ("vars", "changes", "expected"),
    [
        ({"driver": "docker", "cpus": 2, "memory": 2200}, {}, []),
        (
            {"memory": 8192},
            {"mem_available_mb": 3900},
            [
                "memory: inventory asks 8192 MB for host lab-01 (inventory.yml:12) but 3900 MB is "
                "available; lower `memory` or close programs"
            ],
        ),
        ({"memory": "4g"}, {"mem_available_mb": 3900}, ["memory: inventory asks 4096 MB"]),
        ({"memory": 1024}, {}, ["minikube needs 1800 MB"]),
        ({"memory": "max"}, {"mem_available_mb": 100}, []),
        ({"cpus": 1}, {}, ["cpus: inventory asks 1 CPU", "at least 2"]),
        ({"cpus": 16}, {}, ["cpus: inventory asks 16 CPUs", "but 8 exist"]),
        ({"disk_size": "200g"}, {}, ["disk: inventory asks 204800 MB", "100000 MB is free"]),
        ({}, {"disk_free_mb": 5000}, ["disk: inventory asks 20000 MB"]),
        (
            {},
            {"binaries": {**GOOD.binaries, "minikube": None}},
            [
                "minikube: minikube not found on PATH",
                "install it: https://minikube.sigs.k8s.io/docs/start/ or use provider: fake",
            ],
        ),
        ({}, {"binaries": {**GOOD.binaries, "kubectl": None}}, ["kubectl: kubectl not found"]),
        ({}, {"versions": {"kubectl": "v1.32.4", "minikube": None}}, ["`minikube version` failed"]),
        ({"driver": "docker"}, {"drivers": {"docker": False}}, ["`docker info` failed"]),
        ({"driver": "podman"}, {}, ["driver podman", "podman is not on PATH"]),
        ({}, {"binaries": {"kubectl": "/k", "minikube": "/m"}}, ["no minikube driver found"]),
        ({}, {"drivers": {"docker": False}}, ["docker found but not answering"]),
        ({"driver": "none"}, {"binaries": {"kubectl": "/k", "minikube": "/m"}}, []),
    ],
)
def test_minikube_problems(
    vars: dict[str, Any], changes: dict[str, Any], expected: list[str]
) -> None:
    problems = [p.text() for p in check(host(**vars), facts(**changes))]
    if not expected:
        assert problems == []
        return
    assert len(problems) == 1, problems
    for part in expected:
        assert part in problems[0]


@pytest.mark.parametrize(
    ("vars", "changes", "expected"),
    [
        ({"kube_context": "kind-dev"}, {"contexts": ("kind-dev", "prod")}, None),
        ({}, {}, "needs `kube_context`"),
        ({"kube_context": "kind-x"}, {"contexts": ("kind-dev",)}, "it has: kind-dev"),
        (
            {"kube_context": "kind-dev", "kubeconfig": "/nope"},
            {"kubeconfig_exists": False},
            "kubeconfig /nope of host lab-01 (inventory.yml:12) does not exist",
        ),
        ({"kube_context": "c"}, {"binaries": {"kubectl": None}}, "kubectl not found on PATH"),
    ],
)
def test_context_problems(
    vars: dict[str, Any], changes: dict[str, Any], expected: str | None
) -> None:
    problems = [p.text() for p in check(host("context", **vars), facts(**changes))]
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1, problems
        assert expected in problems[0]


def test_fake_needs_only_kubectl() -> None:
    bare = Facts(binaries={"kubectl": "/k"}, mem_available_mb=10, cpu_count=1)
    assert check(host("fake", memory=8192, cpus=8), bare) == []


@pytest.mark.parametrize(
    ("value", "mb"),
    [(2200, 2200), ("2200", 2200), ("4g", 4096), ("4G", 4096), ("20000mb", 20000), ("max", None)],
)
def test_size_mb(value: object, mb: int | None) -> None:
    assert size_mb(value) == mb


def test_gather_facts_per_provider() -> None:
    keys = [f.key for f in gather_facts(host(driver="docker"), get_provider("minikube"))]
    assert keys == ["version:kubectl", "version:minikube", "driver:docker"]
    ctx = gather_facts(
        host("context", kube_context="c", kubeconfig="/k c"), get_provider("context")
    )
    assert ctx[-1].command.argv == (
        "kubectl",
        "--kubeconfig",
        "/k c",
        "config",
        "get-contexts",
        "-o",
        "name",
    )


def test_mem_available_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    3993600 kB\n")
    assert mem_available_mb(str(meminfo)) == 3900
    assert mem_available_mb(str(tmp_path / "missing")) is None


def write_tool(directory: Path, name: str, stdout: str, rc: int = 0) -> None:
    """A stand-in binary that prints ``stdout`` and exits ``rc``."""
    path = directory / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{stdout}\nEOF\nexit {rc}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def real_run(path: Path) -> Any:
    """A process runner with PATH limited to ``path``."""

    def run(argv: tuple[str, ...]) -> Output:
        env = {**os.environ, "PATH": f"{path}:/usr/bin:/bin"}
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=10, check=False
        )
        return Output(done.returncode, done.stdout, done.stderr)

    return run


def test_run_preflight_reports_every_problem_in_one_message(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_tool(bin_dir, "kubectl", '{"clientVersion":{"gitVersion":"v1.32.4"}}')
    write_tool(bin_dir, "docker", "Cannot connect to the Docker daemon", rc=1)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:    3993600 kB\n")
    hosts = [host(driver="docker", memory=8192), Host("lab-02", "minikube", {"memory": 2000})]
    providers = {"lab-01": get_provider("minikube"), "lab-02": get_provider("minikube")}
    which = lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None  # noqa: E731
    with pytest.raises(PreflightError) as caught:
        run_preflight(hosts, providers, which=which, run=real_run(bin_dir), meminfo=str(meminfo))
    text = caught.value.message
    lines = str(text).splitlines()
    assert lines[0] == "preflight found 6 problems: "
    # one line per distinct problem: the two hosts without minikube share one
    assert len(lines) == 6
    assert (
        "  - 2 hosts (lab-01, lab-02; inventory.yml:12): minikube: minikube not found on PATH "
        "(needed by them)"
    ) in text
    assert "`docker info` failed" in text
    assert "inventory asks 8192 MB for host lab-01" in text
    assert "2 minikube hosts together ask 10192 MB but 3900 MB is available" in text
    assert caught.value.exit_code == 3


def test_run_preflight_passes_for_fake(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_tool(bin_dir, "kubectl", '{"clientVersion":{"gitVersion":"v1.32.4"}}')
    which = lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None  # noqa: E731
    hosts = [host("fake")]
    run_preflight(hosts, {"fake": get_provider("fake")}, which=which, run=real_run(bin_dir))


def kubectl_script(bin_dir: Path) -> Path:
    """A stand-in kubectl that fails like kubectl when its kubeconfig is garbage or missing."""
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        'config=""; prev=""\n'
        'for arg in "$@"; do [ "$prev" = --kubeconfig ] && config="$arg"; prev="$arg"; done\n'
        '[ -n "$config" ] || config="$KUBECONFIG"\n'
        'if [ -n "$config" ] && [ ! -e "$config" ] && [ "$1" != config ]; then\n'
        '  echo "error: stat $config: no such file or directory" >&2; exit 1; fi\n'
        'if [ -n "$config" ] && grep -q garbage "$config" 2>/dev/null; then\n'
        '  echo "error: error loading config file \\"$config\\": yaml: line 1" >&2; exit 1; fi\n'
        'if [ "$1" != config ] && grep -q expired "$config" 2>/dev/null; then\n'
        '  echo "error: You must be logged in to the server (Unauthorized)" >&2; exit 1; fi\n'
        "echo '{}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def probe_with(script: Path) -> Any:
    """Run a preflight Command with the stand-in kubectl in its place."""

    def probe(command: Any) -> Output:
        argv = (str(script), *command.argv[1:])
        env = {**os.environ, **command.env}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=10)
        return Output(done.returncode, done.stdout, done.stderr)

    return probe


def test_access_checks_the_instructors_kubeconfig_then_the_participants(tmp_path: Path) -> None:
    from labtools.providers.preflight import access_problems

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    probe = probe_with(kubectl_script(bin_dir))
    admin = tmp_path / "admin.yaml"
    folder = tmp_path / "participants"
    folder.mkdir()
    context = get_provider("context")
    team = Host(
        "lab-07", "context", {"kube_context": "shared", "kubeconfig": str(admin),
                              "participants_dir": str(folder)}, source=SRC,
    )  # fmt: skip
    providers = {"lab-07": context}

    admin.write_text("garbage\n")  # the instructor's own file: named, whatever the run
    (problem,) = access_problems([team], providers, probe=probe, reach=False)
    assert f"kubectl cannot load the kubeconfig {admin} of host lab-07" in str(problem.text())
    assert 'error loading config file "' in str(problem.text())

    admin.write_text("apiVersion: v1\n")  # a good one; the participant's not written yet
    assert access_problems([team], providers, probe=probe, reach=False) == []  # lab.up makes it
    (missing,) = access_problems([team], providers, probe=probe, reach=True)
    assert "the participant's kubeconfig" in str(missing.text())
    assert "does not exist yet" in str(missing.text())
    assert "run `invoke lab.up` first (or `invoke lab.setup --limit lab-07`)" in str(missing.text())

    own = folder / "lab-07.kubeconfig"
    own.write_text("token: expired\n")
    (refused,) = access_problems([team], providers, probe=probe, reach=True)
    assert f"kubeconfig {own}) does not answer: You must be logged in" in str(refused.text())
    assert "`invoke lab.setup --limit lab-07` issues a new kubeconfig" in str(refused.text())
    own.write_text("token: fresh\n")
    assert access_problems([team], providers, probe=probe, reach=True) == []
    alone = Host("solo", "context", {**team.vars, "isolation": False}, source=SRC)
    assert access_problems([alone], {"solo": context}, probe=probe, reach=True) == []


@pytest.mark.parametrize(
    ("answers", "loads", "calls", "says"),
    [
        (True, True, ["version"], None),  # the cluster answers: one call for both hosts
        (False, True, ["version", "config"], "does not answer"),
        (False, False, ["version", "config"], "cannot load the kubeconfig"),
    ],
    ids=["answers", "down", "garbage-kubeconfig"],
)
def test_the_kubeconfig_is_looked_at_only_when_a_cluster_does_not_answer(
    answers: bool, loads: bool, calls: list[str], says: str | None
) -> None:
    seen: list[str] = []

    def probe(command: Any) -> Output:
        word = command.argv[1] if command.argv[1] == "config" else "version"
        seen.append(word)
        ok = answers if word == "version" else loads
        return Output(rc=0 if ok else 1, stderr="" if ok else "error: boom")

    shared = {"kube_context": "training", "isolation": False}  # one kubeconfig for both
    hosts = [host("context", **shared), Host("lab-02", "context", shared, source=SRC)]
    providers = {"context": get_provider("context")}
    problems = access_problems(hosts, providers, probe=probe, reach=True)
    # one cluster and kubeconfig shared by both hosts: asked once, looked at once
    assert sorted(seen) == sorted(calls)
    if says is None:
        assert problems == []
    else:
        assert problems
        assert all(says in str(problem.message) for problem in problems)


def logging_kubectl(bin_dir: Path, log: Path, refuse: str = "") -> Path:
    """A stand-in kubectl that appends its argv to ``log`` (one line a call) and answers, or
    refuses like kubectl when its arguments contain ``refuse``."""
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        f'case "$*" in *"{refuse or chr(1)}"*)\n'
        '  echo "error: Unable to connect to the server: connection refused" >&2; exit 1;;\n'
        "esac\n"
        'case "$*" in *get-contexts*) echo shared;; '
        """*) echo '{"clientVersion":{"gitVersion":"v1.32.4"}}';; esac\n"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def thirty_participants(tmp_path: Path) -> list[Host]:
    """Thirty isolated participants of one shared cluster (one instructor kubeconfig), each
    with the kubeconfig labtools wrote for them."""
    admin = tmp_path / "admin.yaml"
    admin.write_text("apiVersion: v1\n")
    folder = tmp_path / "participants"
    folder.mkdir()
    hosts = []
    for number in range(1, 31):
        name = f"lab-{number:02d}"
        (folder / f"{name}.kubeconfig").write_text("apiVersion: v1\n")
        variables = {"kube_context": "shared", "kubeconfig": str(admin),
                     "participants_dir": str(folder)}  # fmt: skip
        hosts.append(Host(name, "context", variables, source=SRC))
    return hosts


def test_thirty_participants_of_one_cluster_make_one_admin_probe(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    probe = probe_with(logging_kubectl(bin_dir, log))
    hosts = thirty_participants(tmp_path)
    providers = {"context": get_provider("context")}

    assert access_problems(hosts, providers, probe=probe, reach=True) == []
    calls = log.read_text().splitlines()
    admin = [c for c in calls if "--context shared" in c]
    assert admin == [f"--kubeconfig {tmp_path / 'admin.yaml'} --context shared version -o json "
                     "--request-timeout=5s"]  # fmt: skip
    own = sorted(c for c in calls if "--context shared" not in c)
    assert len(own) == 30  # each participant's own kubeconfig answers for them
    assert own[6].startswith(f"--kubeconfig {tmp_path / 'participants' / 'lab-07.kubeconfig'} ")


def test_one_cluster_down_is_one_probe_and_one_grouped_problem(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    probe = probe_with(logging_kubectl(bin_dir, log, refuse="--context shared version"))
    hosts = thirty_participants(tmp_path)
    providers = {"context": get_provider("context")}

    problems = access_problems(hosts, providers, probe=probe, reach=True)
    assert [p.host for p in problems] == [h.name for h in hosts]  # each host named, in order
    calls = log.read_text().splitlines()
    assert sum("version" in call for call in calls) == 1  # the participants' are not asked
    assert sum("config view" in call for call in calls) == 1  # the 31 files in one KUBECONFIG
    error = run_preflight_error(hosts, providers, problems)
    assert error.startswith("preflight found 30 problems: 30 hosts (lab-[01:30]; inventory.yml:12")
    assert "does not answer: Unable to connect to the server: connection refused" in error


def test_every_kubeconfig_loads_in_one_call_and_one_that_does_not_is_named(
    tmp_path: Path,
) -> None:
    # the real kubectl: KUBECONFIG as a list loads every file, and fails naming the bad one
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    calls: list[Any] = []

    def probe(command: Any) -> Output:
        calls.append(command)
        env = {**os.environ, **command.env}
        done = subprocess.run(command.argv, capture_output=True, text=True, env=env, timeout=30)
        return Output(done.returncode, done.stdout, done.stderr)

    hosts = thirty_participants(tmp_path)
    providers = {"context": get_provider("context")}
    assert access_problems(hosts, providers, probe=probe, reach=False) == []
    assert len(calls) == 1  # the instructor's and the 30 participants' files: one kubectl
    assert len(calls[0].env["KUBECONFIG"].split(os.pathsep)) == 31
    bad = tmp_path / "participants" / "lab-07.kubeconfig"
    bad.write_text("garbage: [\n")
    calls.clear()
    problems = access_problems(hosts, providers, probe=probe, reach=False)
    assert [problem.host for problem in problems] == ["lab-07"]  # only the file that fails
    assert f'error loading config file "{bad}"' in str(problems[0].text())
    assert len(calls) == 1 + 31  # the list failed: then each file on its own


def test_the_kubeconfigs_call_keeps_the_hosts_own_environment(tmp_path: Path) -> None:
    # the fake's KUBECACHEDIR keeps kubectl's cache out of HOME: the one call for every
    # profile's kubeconfig has it too (kubectl writes ~/.kube/cache/http without it)
    from labtools.providers.preflight import _kubeconfig_readers, kubeconfigs_together

    folder = tmp_path / "participants"
    folder.mkdir()
    hosts = []
    for name in ("lab-01", "lab-02"):
        (folder / f"{name}.kubeconfig").write_text("apiVersion: v1\n")
        variables = {"isolation": True, "participants_dir": str(folder),
                     "project_root": str(tmp_path)}  # fmt: skip
        hosts.append(Host(name, "fake", variables, source=SRC))
    fake = get_provider("fake")
    together = kubeconfigs_together(_kubeconfig_readers(hosts, lambda _: fake), lambda _: fake)
    assert together is not None
    own = fake.env(hosts[0])
    assert together.env["KUBECACHEDIR"] == own["KUBECACHEDIR"]
    assert together.env["KUBECONFIG"].split(os.pathsep) == [
        str(folder / "lab-01.kubeconfig"),
        str(folder / "lab-02.kubeconfig"),
    ]


def run_preflight_error(hosts: list[Host], providers: dict[str, Any], problems: list[Any]) -> str:
    """The preflight's message for ``problems`` found by its access checks."""
    which = lambda name: "/usr/bin/kubectl"  # noqa: E731
    with pytest.raises(PreflightError) as caught:
        run_preflight(
            hosts, providers, which=which, run=real_run(Path("/nonexistent")), starting=False,
            extra=lambda: problems,
        )  # fmt: skip
    return str(caught.value.message)


def meeting_tool(directory: Path, name: str, stdout: str, everyone: list[str]) -> None:
    """A stand-in binary that answers only once every tool of ``everyone`` has started (each
    leaves a file in ``directory/started``): run one after another, the first gives up."""
    started = directory / "started"
    started.mkdir(exist_ok=True)
    waits = " ".join(f'[ -e "{started / other}" ] &&' for other in everyone)
    path = directory / name
    path.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{directory / "calls.log"}"\n'
        f'touch "{started / name}"\n'
        "i=0\n"
        f"until {waits} true; do\n"
        '  i=$((i+1)); [ "$i" -gt 100 ] && { echo "alone" >&2; exit 1; }; sleep 0.05\n'
        "done\n"
        f"cat <<'EOF'\n{stdout}\nEOF\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_the_facts_of_every_host_and_the_access_checks_run_at_once(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    everyone = ["kubectl", "minikube", "docker", "probe"]
    meeting_tool(bin_dir, "kubectl", '{"clientVersion":{"gitVersion":"v1.32.4"}}', everyone)
    meeting_tool(bin_dir, "minikube", '{"minikubeVersion":"v1.37.0"}', everyone)
    meeting_tool(bin_dir, "docker", "Server Version: 27.0", everyone)
    meeting_tool(bin_dir, "probe", "ok", everyone)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:    16000000 kB\n")
    hosts = [Host(f"lab-{n}", "minikube", {"driver": "docker"}, source=SRC) for n in (1, 2, 3)]
    providers = {"minikube": get_provider("minikube")}
    which = lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None  # noqa: E731
    run = real_run(bin_dir)

    def access() -> list[Any]:
        out = run((str(bin_dir / "probe"),))
        assert out.rc == 0, out.stderr  # it met the fact commands: they ran beside it
        return []

    run_preflight(hosts, providers, which=which, run=run, meminfo=str(meminfo), extra=access)
    calls = sorted((bin_dir / "calls.log").read_text().splitlines())
    assert calls == ["", "info", "version --client -o json", "version -o json"]  # once each


def test_a_fact_command_that_fails_is_still_named_when_run_at_once(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_tool(bin_dir, "kubectl", '{"clientVersion":{"gitVersion":"v1.32.4"}}')
    write_tool(bin_dir, "minikube", "not json", rc=1)
    write_tool(bin_dir, "docker", "Server Version: 27.0")
    asked: list[str] = []
    hosts = [Host(f"lab-{n}", "minikube", {"driver": "docker"}, source=SRC) for n in (1, 2)]
    which = lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None  # noqa: E731
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:    16000000 kB\n")
    with pytest.raises(PreflightError) as caught:
        run_preflight(
            hosts, {"minikube": get_provider("minikube")}, which=which, run=real_run(bin_dir),
            meminfo=str(meminfo), extra=lambda: asked.append("extra") or [],
        )  # fmt: skip
    assert str(caught.value.message) == (
        "preflight found 2 problems: 2 hosts (lab-1, lab-2; inventory.yml:12): minikube: "
        "`minikube version` failed for them; check that `minikube version -o json` works in a "
        "terminal"
    )
    assert asked == ["extra"]  # asked beside the facts; its answer does not count here


# ---------------------------------------------------------------- probes started while loading


def sleepy_kubectl(bin_dir: Path, pids: Path, seconds: int = 20) -> Path:
    """A stand-in kubectl that notes its pid, then answers only after ``seconds``."""
    script = bin_dir / "kubectl"
    script.write_text(f'#!/bin/sh\necho $$ >> "{pids}"\nexec sleep {seconds}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_lab_that_does_not_load_says_why_and_leaves_no_early_probe(tmp_path: Path) -> None:
    from labtools.app import run_lab
    from labtools.core.errors import ConfigError
    from labtools.core.options import RunOptions

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pids = tmp_path / "pids"
    kubectl = sleepy_kubectl(bin_dir, pids)
    (tmp_path / "inventory.yml").write_text(
        f"all:\n  vars: {{provider: context, kube_context: training, kubectl_bin: {kubectl}}}\n"
        "  hosts:\n    lab-01:\n"
    )
    lab = tmp_path / "playbooks" / "demo"
    lab.mkdir(parents=True)
    # steps enough that the probes start while the lab loads, then a mistake at the end
    steps = "".join(f"  - name: s{n}\n    command: echo {n}\n" for n in range(200))
    (lab / "playbook.yml").write_text(f"setup:\n{steps}  - name: bad\n    retry: 3\n")
    with pytest.raises(ConfigError) as caught:
        run_lab(tmp_path, ("setup",), RunOptions(lab="demo"))
    assert "unknown key 'retry'" in str(caught.value.format())
    started = [int(line) for line in pids.read_text().split()] if pids.exists() else []
    assert started, "the early probes started while the lab loaded"
    assert not [pid for pid in started if alive(pid)]  # ended with the failed load


def test_the_first_probes_are_what_the_preflight_asks_first(tmp_path: Path) -> None:
    from labtools.app import Probes
    from labtools.providers.preflight import first_probes

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    kubectl = logging_kubectl(bin_dir, log)
    hosts = thirty_participants(tmp_path)
    hosts = [Host(h.name, h.provider, {**h.vars, "kubectl_bin": str(kubectl)}) for h in hosts]
    providers = {"context": get_provider("context")}
    which = lambda name: name if name == str(kubectl) else None  # noqa: E731
    for starting, reach in ((True, False), (False, True)):
        log.write_text("")
        with Probes() as probes:
            for command in first_probes(
                hosts, providers, which=which, starting=starting, reach=reach
            ):
                probes.probe(command)
            early = log.read_text().splitlines()
            run_preflight(
                hosts, providers, which=which, run=probes.run, starting=starting,
                extra=lambda: access_problems(
                    hosts, providers, probe=probes.probe, reach=reach  # noqa: B023
                ),
                extra_runs_kubectl=True,
            )  # fmt: skip
        later = log.read_text().splitlines()[len(early) :]
        assert early  # the facts and the owner's kubeconfig or cluster
        assert not set(later) & set(early)  # none asked twice: the preflight had the answers
        assert len(later) == (30 if reach else 0)  # then only the participants' own clusters


def kubeconfig_preflight(
    tmp_path: Path, kubectl_script: str, kubeconfig: str
) -> tuple[str | None, list[str]]:
    """run_preflight of one fake host as a run makes it (the kubeconfig checks run kubectl):
    the problems' text (None: no problem) and the kubectl calls made."""
    from labtools.app import Probes

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{kubectl_script}')
    kubectl.chmod(0o755)
    host = Host("h1", "fake", {"kubectl_bin": str(kubectl), "fake_home": str(tmp_path / "fake")})
    providers = {"h1": get_provider("fake")}
    config = Path(effective_kubeconfig(host, providers["h1"], admin=True))
    config.parent.mkdir(parents=True)
    config.write_text(kubeconfig)
    which = lambda name: name if name == str(kubectl) else None  # noqa: E731
    problem = None
    with Probes() as probes:
        try:
            run_preflight(
                [host], providers, which=which, run=probes.run,
                extra=lambda: access_problems([host], providers, probe=probes.probe, reach=False),
                extra_runs_kubectl=True,
            )  # fmt: skip
        except PreflightError as exc:
            problem = str(exc.format())
    return problem, log.read_text().splitlines() if log.exists() else []


# a kubectl that loads the kubeconfig only when it is YAML (as kubectl refuses garbage)
LOADING_KUBECTL = """case "$*" in
  *"config view"*) grep -q '^apiVersion:' "$KUBECONFIG" || {
    echo "error: error loading config file: yaml: mapping values are not allowed" >&2; exit 1; }
    echo ctx;;
  *) echo '{"clientVersion":{"gitVersion":"v1.32.4"}}';;
esac
"""


def test_a_run_whose_kubeconfig_loads_does_not_ask_kubectl_for_its_version(
    tmp_path: Path,
) -> None:
    problem, calls = kubeconfig_preflight(tmp_path, LOADING_KUBECTL, "apiVersion: v1\n")
    assert problem is None
    assert [c for c in calls if c.startswith("config view")], calls  # kubectl ran: it works
    assert not [c for c in calls if c.startswith("version")], calls


def test_a_kubeconfig_kubectl_cannot_load_is_named_after_kubectl_version_works(
    tmp_path: Path,
) -> None:
    problem, calls = kubeconfig_preflight(tmp_path, LOADING_KUBECTL, "key: [unclosed\n")
    assert problem is not None
    assert "kubectl cannot load the kubeconfig" in problem, problem
    assert "version --client -o json" in calls  # asked once the kubeconfig check failed


def test_a_kubectl_that_does_not_run_is_named_not_the_kubeconfig(tmp_path: Path) -> None:
    broken = 'echo "kubectl: cannot execute binary file: Exec format error" >&2; exit 126\n'
    problem, calls = kubeconfig_preflight(tmp_path, broken, "apiVersion: v1\n")
    assert problem is not None
    assert "version` failed" in problem, problem
    assert "cannot load the kubeconfig" not in problem  # kubectl itself is the problem
    assert "version --client -o json" in calls
