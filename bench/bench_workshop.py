"""Workshop scale: `invoke lab.up` for 30 participants on ONE shared fake API server, against
(a) 1 participant and (b) a shell script running the same kubectl commands for the 30 with the
same parallelism (`xargs -P`); then the same for 8 fake minikube profiles (host mode).

Prints wall time, the ratios, kubectl calls and CPU-seconds per participant, and where the time
goes (the verify phase's pytest per host, measured alone). Figures, never assertions:

    python bench/bench_workshop.py [--participants 30] [--forks 10] [--profiles 8]

kubectl calls are counted by a `kubectl` wrapper first on PATH (a 2-line sh script that logs
its argv and execs the real kubectl); CPU-seconds are the children's rusage (labtools, kubectl,
pytest, curl) plus the fake API server's own CPU from /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labtools.testing.cluster import FakeCluster  # noqa: E402

# one printf (one write, so parallel calls do not interleave): each argument NUL-terminated,
# then a record separator; `echo "$*"` lost the quoting of arguments that hold spaces or quotes
WRAPPER = """#!/bin/sh
printf '%s\\0' "$@" '{end}' >> {log}
exec {real} "$@"
"""
END = "\x1e"  # ASCII record separator: ends each call's record in the log


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

    def kubectl_calls(self) -> list[list[str]]:
        """The argv of each kubectl call of the last invoke."""
        records = self.log.read_text().split(END + "\0")
        return [record.split("\0")[:-1] for record in records if record]


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
    for words in project.kubectl_calls():
        line = " ".join(words)
        host = next((h for h in hosts if f"{h}.kubeconfig" in line or f" -n {h} " in line), None)
        if host is None:
            continue
        command = shlex.join([real, *words])
        if words[-3:] == ["apply", "-f", "-"]:
            command += f" < {base / (host + '.yaml')}"
        command += " >/dev/null 2>&1"
        if "proxy" in words:  # the lab has two (explore's and the checks'): every one is killed
            command += ' & PROXIES="$PROXIES $!"'
        per_host[host].append(command)
    for host, commands in per_host.items():
        body = "\n".join(commands) + '\n[ -n "$PROXIES" ] && kill $PROXIES\ntrue\n'
        (base / f"{host}.sh").write_text(body)
    script = base / "replay.sh"
    script.write_text(
        f"#!/bin/sh\nprintf '%s\\n' {' '.join(hosts)} | xargs -P {forks} -I{{}} sh {base}/{{}}.sh\n"
    )
    return script


def run_script(script: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU-seconds) of a shell script."""
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(["sh", str(script)], env=env, check=True, timeout=3600)
    return time.perf_counter() - started, children_cpu() - cpu


def shared(participants: int, forks: int) -> None:
    """N participants on one shared fake API server (provider context, isolation on)."""
    hosts = [f"lab-{i:02d}" for i in range(1, participants + 1)]
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
            server0 = process_cpu(int(cluster.pid or 0))
            wall, cpu, calls = many.invoke("lab.up", "-f", str(forks))
            server = process_cpu(int(cluster.pid or 0)) - server0
            script = replay_script(many, base, hosts, forks)
            verify_wall, verify_cpu, _ = many.invoke("lab.verify", "-f", str(forks))
            setup_wall, setup_cpu, _ = many.invoke("lab.setup", "-f", str(forks))
            # the replay starts where lab.up started its deploy: no app yet; the participants'
            # places and kubeconfigs are there (its own `apply` and `create token` run again)
            for host in hosts:
                cluster.kubectl("-n", host, "delete", "deployment", "--all", "--wait=true")
            script_wall, script_cpu = run_script(script, many.env)
            many.invoke("lab.down", "-f", str(forks))
            one = Project(base / "one", inventory.replace(f"lab-[01:{participants:02d}]", "lab-01"))
            one_wall, one_cpu, one_calls = one.invoke("lab.up")
            one.invoke("lab.down")
        finally:
            cluster.stop()
    n = participants
    print(f"shared cluster, {n} participants, --forks {forks}")
    print(f"  lab.up x{n}: {wall:6.1f} s wall, {cpu:6.1f} CPU-s, {calls} kubectl calls")
    print(f"  (a) lab.up x1:  {one_wall:6.1f} s wall, {one_cpu:6.1f} CPU-s, {one_calls} kubectl")
    print(f"      ratio {n} / 1: {wall / one_wall:.2f}x")
    print(f"  (b) the same kubectl commands, sh + xargs -P {forks}: {script_wall:6.1f} s wall, "
          f"{script_cpu:6.1f} CPU-s")  # fmt: skip
    print(f"      ratio labtools / script: {wall / script_wall:.2f}x (aim <= 1.25x)")
    print(f"  per participant: {calls / n:.1f} kubectl calls, {cpu / n:.2f} CPU-s "
          f"(+ {server / n:.2f} CPU-s of the API server)")  # fmt: skip
    print(f"  where it goes: lab.verify alone {verify_wall:.1f} s, {verify_cpu / n:.2f} CPU-s "
          f"per participant (hosts share checks sessions: ~sqrt(N) pytest processes); "
          f"lab.setup again (provisioned: apply unchanged, no token) {setup_wall:.1f} s, "
          f"{setup_cpu / n:.2f} CPU-s each")  # fmt: skip


def host_replay(project: Project, base: Path, hosts: list[str], forks: int) -> Path:
    """The same `minikube start` and kubectl commands, per profile, with its own KUBECONFIG."""
    journal = project.root / "runs" / "latest" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    real = shutil.which("kubectl", path=os.environ.get("PATH")) or "kubectl"
    home = project.root / ".labtools" / "fake-minikube"
    for host in hosts:
        kubeconfig = project.root / "runs" / "participants" / f"{host}.kubeconfig"
        lines = [
            f"export MINIKUBE_HOME={home} KUBECONFIG={kubeconfig} MINIKUBE_IN_STYLE=false",
            f"export KUBECACHEDIR={home / 'kube-cache'}",
        ]
        lines += [shlex.join(argv) + " >/dev/null 2>&1" for argv in minikube_calls(records, host)]
        for words in project.kubectl_calls():
            if "--context" in words and words[words.index("--context") + 1] == host:
                command = shlex.join([real, *words]) + " >/dev/null 2>&1"
                if "proxy" in words:  # every proxy of the host, killed at its end
                    command += ' & PROXIES="$PROXIES $!"'
                lines.append(command)
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


def host_mode(profiles: int, forks: int) -> None:
    """N fake minikube profiles, each with its own KUBECONFIG (isolation)."""
    hosts = [f"lab-{i:02d}" for i in range(1, profiles + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-workshop-mk-") as tmp:
        base = Path(tmp)
        inventory = (
            "all:\n  vars:\n    provider: fake\n    isolation: true\n"
            f"  hosts:\n    lab-[01:{profiles:02d}]:\n"
        )
        many = Project(base / "many", inventory)
        wall, cpu, calls = many.invoke("lab.up", "-f", str(forks))
        journal = many.root / "runs" / "latest" / "journal.jsonl"
        ends = [json.loads(line) for line in journal.read_text().splitlines()]
        start_times = [e["result"]["duration"] for e in ends
                       if e["kind"] == "step_end" and e["step"] == "minikube start"]  # fmt: skip
        script = host_replay(many, base, hosts, forks)
        many.invoke("lab.down", "-f", str(forks))
        script_wall, script_cpu = run_script(script, many.env)
        many.invoke("lab.down", "-f", str(forks))
        one = Project(base / "one", inventory.replace(f"lab-[01:{profiles:02d}]", "lab-01"))
        one_wall, _, _ = one.invoke("lab.up")
        one.invoke("lab.down")
    n = profiles
    print(f"host mode, {n} fake minikube profiles, --forks {forks}")
    print(f"  lab.up x{n}: {wall:6.1f} s wall, {cpu:6.1f} CPU-s, {calls} kubectl calls")
    print(f"  (a) lab.up x1: {one_wall:6.1f} s wall; ratio {wall / one_wall:.2f}x")
    ratio = wall / script_wall
    print(f"  (b) the same minikube start + kubectl commands, sh + xargs -P {forks}: "
          f"{script_wall:6.1f} s wall, {script_cpu:6.1f} CPU-s; ratio {ratio:.2f}x")  # fmt: skip
    print(f"  minikube start per profile: {min(start_times):.1f}-{max(start_times):.1f} s")
    print(f"  per profile: {calls / n:.1f} kubectl calls, {cpu / n:.2f} CPU-s")


def main() -> None:
    """Run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--profiles", type=int, default=8)
    args = parser.parse_args()
    # a shared machine's other work moves every figure: say how loaded it was
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    shared(args.participants, args.forks)
    host_mode(args.profiles, min(args.forks, args.profiles))
    print("load average (1, 5, 15 min) after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
