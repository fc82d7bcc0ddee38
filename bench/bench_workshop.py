"""Workshop scale: `invoke lab.up` for 30 participants on ONE shared fake API server, against
(a) 1 participant and (b) a shell script running the same kubectl commands for the 30 with the
same parallelism (`xargs -P`); then the same for 8 fake minikube profiles (host mode).

Prints wall time, the ratios, kubectl calls and CPU-seconds per participant, and where the time
goes (the verify phase's pytest per host, measured alone). Figures, never assertions:

    python bench/bench_workshop.py [--participants 30] [--forks 10] [--profiles 8] [--rounds 3]

kubectl calls are counted by a `kubectl` wrapper first on PATH (a 2-line sh script that logs
its argv and execs the real kubectl); CPU-seconds are the children's rusage (labtools, kubectl,
pytest, curl) plus the fake API server's own CPU from /proc.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labtools.testing.cluster import FakeCluster  # noqa: E402

# one printf (one write, so parallel calls do not interleave): the KUBECONFIG the call had, then
# each argument, NUL-terminated, then a record separator; `echo "$*"` lost the quoting of
# arguments that hold spaces or quotes
WRAPPER = """#!/bin/sh
printf '%s\\0' "${{KUBECONFIG-}}" "$@" '{end}' >> {log}
exec {real} "$@"
"""
END = "\x1e"  # ASCII record separator: ends each call's record in the log


class Call(NamedTuple):
    """One kubectl call of a run: the KUBECONFIG it had (empty: none) and its arguments."""

    kubeconfig: str
    words: list[str]


def children_cpu() -> float:
    """CPU-seconds of every waited-for child so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU-seconds of a live process (utime + stime from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Project:
    """A copy of the repo's project with an inventory, a kubectl-counting PATH and clean env."""

    def __init__(self, base: Path, inventory: str) -> None:
        self.root = base / "project"
        self.root.mkdir(parents=True)
        shutil.copy2(REPO / "tasks.py", self.root / "tasks.py")
        for folder in ("playbooks", "templates"):
            shutil.copytree(REPO / folder, self.root / folder)
        (self.root / "inventory.yml").write_text(inventory)
        self.log = base / "kubectl.log"
        bin_dir = base / "bin"
        bin_dir.mkdir()
        real = shutil.which("kubectl") or "kubectl"
        (bin_dir / "kubectl").write_text(WRAPPER.format(log=self.log, real=real, end=END))
        (bin_dir / "kubectl").chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "LABTOOLS_"))}
        home = base / "home"
        home.mkdir()
        env.update(
            HOME=str(home),
            KUBECONFIG=str(home / ".kube" / "config"),
            NO_COLOR="1",
            LABTOOLS_FAKE_POD_DELAY="0.3",
            PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
        )
        self.env = env

    def invoke(self, *args: str) -> tuple[float, float, int]:
        """(wall seconds, CPU-seconds, kubectl calls) of `invoke ARGS`."""
        self.log.write_text("")
        cpu, started = children_cpu(), time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"invoke {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr}")
        return wall, children_cpu() - cpu, len(self.kubectl_calls())

    def kubectl_calls(self) -> list[Call]:
        """Each kubectl call of the last invoke."""
        records = self.log.read_text().split(END + "\0")
        fields = [record.split("\0")[:-1] for record in records if record]
        return [Call(kubeconfig, words) for kubeconfig, *words in fields]


def host_of(call: Call, hosts: list[str]) -> str | None:
    """The host a kubectl call names: its context (``--context H``, ``--context=H``), its
    namespace (``-n H``, ``--namespace=H``) or a participant's kubeconfig (``H.kubeconfig``)."""
    words = [*call.words, call.kubeconfig]
    for index, word in enumerate(words):
        follows = words[index - 1] if index else ""
        for host in hosts:
            if word in (f"--context={host}", f"--namespace={host}", f"-n{host}"):
                return host
            if word == host and follows in ("--context", "-n", "--namespace"):
                return host
            if word.endswith(f"/{host}.kubeconfig") or word == f"--kubeconfig={host}.kubeconfig":
                return host
    return None


# read-only probes, not the lab's work: labtools' preflight (kubectl there, each kubeconfig
# loads, the context exists) and `minikube start`'s own kubectl version check (the host replay
# runs minikube start itself); a script does none of them
PROBES = (
    ("version", "--client", "-o", "json"),
    ("config", "view", "-o", "jsonpath={.current-context}"),
    ("config", "get-contexts", "-o", "name"),
)


def probe(words: list[str]) -> bool:
    """True for a preflight probe (with or without a ``--kubeconfig`` before it)."""
    rest = words[2:] if words[:1] == ["--kubeconfig"] else words
    return tuple(rest) in PROBES


def per_host_calls(calls: list[Call], hosts: list[str]) -> list[tuple[str, Call]]:
    """(host, argv) of every call made for one host, in the order they were made.

    A call that names no host (the admin's ``apply -f -`` of a participant's place, the
    cluster's CA read for their kubeconfig: the same argv for every participant) made once per
    host is given to the hosts in the order they first appear, the k-th such call to the k-th
    host. The preflight's probes are labtools' own: not replayed.
    """
    named = [(host_of(call, hosts), call) for call in calls if not probe(call.words)]
    first_seen: dict[str, int] = {}
    for index, (host, _) in enumerate(named):
        if host is not None:
            first_seen.setdefault(host, index)
    order = sorted(first_seen, key=first_seen.__getitem__)
    unnamed: dict[tuple[str, ...], list[int]] = {}
    for index, (host, call) in enumerate(named):
        if host is None:
            unnamed.setdefault((call.kubeconfig, *call.words), []).append(index)
    for indices in unnamed.values():
        if len(indices) == len(order):
            for index, host in zip(indices, order, strict=True):
                named[index] = (host, named[index][1])
    return [(host, call) for host, call in named if host is not None]


# a pod of a Deployment: <deployment>-<pod-template-hash>-<5 random characters>
POD = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?-[a-z0-9]{6,10}-[a-z0-9]{5}")


def replay_line(real: str, call: Call, failed: Path, stdin: Path | None = None) -> str:
    """One shell line running a logged kubectl call again.

    The pod the run found is named by the replay's own: the call that listed the pods' names
    (the lab's POD_NAME step) sets ``$POD_NAME``, and later calls use it (a pod name of the
    run is gone, and a call on a missing pod would cost the script less than the real one).
    A manifest read from stdin is read from ``stdin``; a ``kubectl proxy`` runs in the
    background of its host's script and is killed at its end. A call that fails writes its
    argv into ``failed`` (a replay of calls that fail would measure less work than the run's).
    Each call has the KUBECONFIG it had in the run (the checks' is the participant's own).
    """
    words = call.words
    named = ["__POD_NAME__" if POD.fullmatch(word) else word for word in words]
    command = shlex.join([real, *named]).replace("__POD_NAME__", '"$POD_NAME"')
    if call.kubeconfig:
        command = f"KUBECONFIG={shlex.quote(call.kubeconfig)} {command}"
    if stdin is not None and words[-3:] == ["apply", "-f", "-"]:
        command += f" < {stdin}"
    if "get" in words and "pods" in words and "go-template" in words:
        return f"POD_NAME=$({command} 2>/dev/null | head -n 1)"
    command += " >/dev/null 2>&1"
    if "proxy" in words:  # the lab has two (explore's and the checks'): every one is killed
        return command + ' & PROXIES="$PROXIES $!"'
    return f"{command} || echo {shlex.quote(shlex.join(named))} >> {failed}"


def replay_script(project: Project, base: Path, hosts: list[str], forks: int) -> Path:
    """A shell script running the same kubectl commands, per host in order, `xargs -P forks`.

    A kubectl command that read a manifest from stdin reads the same rendered text from a file;
    each `kubectl proxy` runs in the background of its host's script and is killed at its end.
    """
    from labtools import app
    from labtools.core.actions import render_folder
    from labtools.core.options import run_options
    from labtools.core.plan import step_vars

    loaded = app.load(project.root, run_options({}, {"lab": "basics"}), ("setup",))
    per_host: dict[str, list[str]] = {host: [] for host in hosts}
    for host_plan in loaded.plan.hosts:
        start = next(s for s in host_plan.steps if s.action == "cluster")
        text = render_folder(
            "workshop", step_vars(host_plan, start, {}), loaded.project.templates_dir
        )
        (base / f"{host_plan.host.name}.yaml").write_text(text)
    real = shutil.which("kubectl", path=os.environ.get("PATH")) or "kubectl"
    for host, call in per_host_calls(project.kubectl_calls(), hosts):
        per_host[host].append(replay_line(real, call, base / "failed", base / f"{host}.yaml"))
    for host, commands in per_host.items():
        body = "\n".join(commands) + '\n[ -n "$PROXIES" ] && kill $PROXIES\ntrue\n'
        (base / f"{host}.sh").write_text(body)
    script = base / "replay.sh"
    script.write_text(
        f"#!/bin/sh\nprintf '%s\\n' {' '.join(hosts)} | xargs -P {forks} -I{{}} sh {base}/{{}}.sh\n"
    )
    return script


def run_script(script: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU-seconds) of a replay script; says which of its kubectl calls failed."""
    failed = script.parent / "failed"
    failed.unlink(missing_ok=True)
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(["sh", str(script)], env=env, check=True, timeout=3600)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    lines = failed.read_text().splitlines() if failed.exists() else []
    if lines:
        print(f"  (the replay's failed calls: {len(lines)}, first: {lines[0][:200]})")
    return wall, cpu


def paired(pairs: list[tuple[float, float]]) -> str:
    """Each round's labtools / script ratio and their median."""
    ratios = [tool / script for tool, script in pairs]
    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    return f"median {statistics.median(ratios):.2f}x (rounds: {each})"


def shared(participants: int, forks: int, rounds: int) -> None:
    """N participants on one shared fake API server (provider context, isolation on)."""
    hosts = [f"lab-{i:02d}" for i in range(1, participants + 1)]
    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-workshop-") as tmp:
        base = Path(tmp)
        cluster = FakeCluster(base / "cluster", name="training", pod_ready_delay=0.3).start()
        try:
            inventory = (
                "all:\n  vars:\n    provider: context\n"
                f"    kube_context: training\n    kubeconfig: {cluster.kubeconfig}\n"
                f"  hosts:\n    lab-[01:{participants:02d}]:\n"
            )
            many = Project(base / "many", inventory)
            for round_ in range(rounds):  # labtools, then the script: paired, alternating
                server0 = process_cpu(int(cluster.pid or 0))
                wall, cpu, calls = many.invoke("lab.up", "-f", str(forks))
                server = process_cpu(int(cluster.pid or 0)) - server0
                if not round_:
                    script = replay_script(many, base, hosts, forks)
                    replayed = len(per_host_calls(many.kubectl_calls(), hosts))
                    verify_wall, verify_cpu, _ = many.invoke("lab.verify", "-f", str(forks))
                    setup_wall, setup_cpu, _ = many.invoke("lab.setup", "-f", str(forks))
                # the replay starts where lab.up started its deploy: no app yet; the
                # participants' places and kubeconfigs are there (its own `apply` and
                # `create token` run again)
                for host in hosts:
                    cluster.kubectl("-n", host, "delete", "deployment", "--all", "--wait=true")
                script_wall, script_cpu = run_script(script, many.env)
                pairs.append((wall, script_wall))
                many.invoke("lab.down", "-f", str(forks))
            one = Project(base / "one", inventory.replace(f"lab-[01:{participants:02d}]", "lab-01"))
            one_wall, one_cpu, one_calls = one.invoke("lab.up")
            one.invoke("lab.down")
        finally:
            cluster.stop()
    n = participants
    print(f"shared cluster, {n} participants, --forks {forks}, {rounds} paired rounds")
    print(f"  lab.up x{n}: {wall:6.1f} s wall, {cpu:6.1f} CPU-s, {calls} kubectl calls")
    print(f"  (a) lab.up x1:  {one_wall:6.1f} s wall, {one_cpu:6.1f} CPU-s, {one_calls} kubectl")
    print(f"      ratio {n} / 1: {wall / one_wall:.2f}x")
    print(f"  (b) the same kubectl commands, sh + xargs -P {forks}: {script_wall:6.1f} s wall, "
          f"{script_cpu:6.1f} CPU-s ({replayed} of {calls} calls; rest: probes)")  # fmt: skip
    print(f"      ratio labtools / script: {paired(pairs)} (aim <= 1.25x)")
    print(f"  per participant: {calls / n:.1f} kubectl calls, {cpu / n:.2f} CPU-s "
          f"(+ {server / n:.2f} CPU-s of the API server)")  # fmt: skip
    print(f"  where it goes: lab.verify alone {verify_wall:.1f} s, {verify_cpu / n:.2f} CPU-s "
          f"per participant (hosts share checks sessions: ~sqrt(N) pytest processes); "
          f"lab.setup again (provisioned: apply unchanged, no token) {setup_wall:.1f} s, "
          f"{setup_cpu / n:.2f} CPU-s each")  # fmt: skip


def start_bound(project: Project) -> int:
    """How many ``minikube start`` the run let run at once (the provider's ``start_forks``)."""
    from labtools import app
    from labtools.core.options import run_options
    from labtools.providers.minikube import MinikubeProvider

    loaded = app.load(project.root, run_options({}, {"lab": "basics"}), ("setup",))
    bounds = [
        provider.start_forks(hp.host)
        for hp in loaded.plan.hosts
        if isinstance(provider := loaded.providers[hp.host.name], MinikubeProvider)
    ]
    return min(bounds, default=len(loaded.plan.hosts))


def host_replay(project: Project, base: Path, hosts: list[str], forks: int) -> Path:
    """The same `minikube start` and kubectl commands, per profile, with its own KUBECONFIG.

    The starts are bounded as the run bounded them (``start_bound``): the k-th profile's start
    holds lock slot k mod bound (``flock``), so at most that many run at once.
    """
    bound = start_bound(project)
    journal = project.root / "runs" / "latest" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    real = shutil.which("kubectl", path=os.environ.get("PATH")) or "kubectl"
    home = project.root / ".labtools" / "fake-minikube"
    for number, host in enumerate(hosts):
        kubeconfig = project.root / "runs" / "participants" / f"{host}.kubeconfig"
        slot = base / f"start-slot-{number % bound}"
        lines = [
            f"export MINIKUBE_HOME={home} KUBECONFIG={kubeconfig} MINIKUBE_IN_STYLE=false",
            f"export KUBECACHEDIR={home / 'kube-cache'}",
        ]
        for argv in minikube_calls(records, host):
            held = ["flock", str(slot), *argv] if "start" in argv else argv
            lines.append(shlex.join(held) + " >/dev/null 2>&1")
        for of, call in per_host_calls(project.kubectl_calls(), hosts):
            if of == host:
                lines.append(replay_line(real, call, base / "failed"))
        lines += ['[ -n "$PROXIES" ] && kill $PROXIES', "true"]
        (base / f"{host}.sh").write_text("\n".join(lines) + "\n")
    script = base / "replay.sh"
    script.write_text(
        f"#!/bin/sh\nprintf '%s\\n' {' '.join(hosts)} | xargs -P {forks} -I{{}} sh {base}/{{}}.sh\n"
    )
    return script


def minikube_calls(records: list[dict[str, object]], host: str) -> list[list[str]]:
    """The minikube commands the run made for ``host``, in order: its steps' (``minikube
    version``, ``minikube start``) and the cluster step's probe before its start (``minikube
    status``, shown as ``cluster start: PROBE || RUN``), as seed.sh runs them too."""
    calls: list[list[str]] = []
    for record in records:
        if record.get("host") != host:
            continue
        if record["kind"] == "step_start" and str(record.get("display", "")).startswith(
            "cluster start: "
        ):
            probe = str(record["display"]).removeprefix("cluster start: ").split(" || ")[0]
            calls.append(shlex.split(probe))
        result = record.get("result")
        if record["kind"] == "step_end" and isinstance(result, dict):
            argv = [str(word) for word in result.get("argv") or []]
            if "labtools.testing.minikube" in argv:
                calls.append(argv)
    return calls


def host_mode(profiles: int, forks: int, rounds: int) -> None:
    """N fake minikube profiles, each with its own KUBECONFIG (isolation)."""
    hosts = [f"lab-{i:02d}" for i in range(1, profiles + 1)]
    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-workshop-mk-") as tmp:
        base = Path(tmp)
        inventory = (
            "all:\n  vars:\n    provider: fake\n    isolation: true\n"
            f"  hosts:\n    lab-[01:{profiles:02d}]:\n"
        )
        many = Project(base / "many", inventory)
        for round_ in range(rounds):  # labtools, then the script: paired, alternating
            wall, cpu, calls = many.invoke("lab.up", "-f", str(forks))
            if not round_:
                journal = many.root / "runs" / "latest" / "journal.jsonl"
                ends = [json.loads(line) for line in journal.read_text().splitlines()]
                starts = [e for e in ends if e["kind"] == "step_end"]
                start_times = [e["result"]["duration"] for e in starts
                               if e["step"] == "minikube start"]  # fmt: skip
                script = host_replay(many, base, hosts, forks)
                replayed = len(per_host_calls(many.kubectl_calls(), hosts))
            many.invoke("lab.down", "-f", str(forks))
            script_wall, script_cpu = run_script(script, many.env)
            pairs.append((wall, script_wall))
            many.invoke("lab.down", "-f", str(forks))
        one = Project(base / "one", inventory.replace(f"lab-[01:{profiles:02d}]", "lab-01"))
        one_wall, _, _ = one.invoke("lab.up")
        one.invoke("lab.down")
    n = profiles
    print(f"host mode, {n} fake minikube profiles, --forks {forks}, {rounds} paired rounds")
    print(f"  lab.up x{n}: {wall:6.1f} s wall, {cpu:6.1f} CPU-s, {calls} kubectl calls")
    print(f"  (a) lab.up x1: {one_wall:6.1f} s wall; ratio {wall / one_wall:.2f}x")
    print(f"  (b) the same minikube start + kubectl commands, sh + xargs -P {forks}: "
          f"{script_wall:6.1f} s wall, {script_cpu:6.1f} CPU-s ({replayed} of {calls} kubectl "
          "calls; rest: probes)")  # fmt: skip
    print(f"      ratio labtools / script: {paired(pairs)} (aim <= 1.25x)")
    print(f"  minikube start per profile: {min(start_times):.1f}-{max(start_times):.1f} s")
    print(f"  per profile: {calls / n:.1f} kubectl calls, {cpu / n:.2f} CPU-s")


class Tee(io.TextIOBase):
    """What is printed, to stdout and kept (for ``--write``)."""

    def __init__(self) -> None:
        self.out = sys.stdout
        self.kept: list[str] = []

    def write(self, text: str) -> int:
        self.out.write(text)
        self.out.flush()
        self.kept.append(text)
        return len(text)


DOC = """# Workshop performance: `bench/bench_workshop.py`

Written by `python bench/bench_workshop.py --write` ({when}, main at {commit}); the whole benchmark
of labtools against bash and Ansible is [performance.md](performance.md).

`lab.up` of N participants against a replay of the same commands: for each participant, every
kubectl call the run made for them (the instructor's `apply` of their place and the CA read for
their kubeconfig included), in order, with the KUBECONFIG each call had and the replay's own pod
name, run by one shell script per participant under `xargs -P FORKS`; host mode adds each
profile's minikube commands (starts bounded as the run bounded them). The preflight's probes are
labtools' own and are not replayed; a replay call that fails is printed (none did). Each round
is labtools then the script, paired; the ratio is the median of the rounds' ratios.

```
{output}```
"""


def main() -> None:
    """Run both benchmarks and print their figures (``--write``: into docs/ too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--profiles", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="paired runs (median ratio)")
    parser.add_argument("--write", action="store_true", help="write docs/performance-workshops.md")
    args = parser.parse_args()
    tee = Tee()
    with contextlib.redirect_stdout(tee):
        # a shared machine's other work moves every figure: say how loaded it was
        print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        shared(args.participants, args.forks, args.rounds)
        host_mode(args.profiles, min(args.forks, args.profiles), args.rounds)
        print("load average (1, 5, 15 min) after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.write:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        path = REPO / "docs" / "performance-workshops.md"
        output = "".join(tee.kept)
        path.write_text(DOC.format(when=when, commit=commit or "?", output=output))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
