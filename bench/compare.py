"""The benchmark that tells the story: labtools against a plain bash script and ansible-playbook.

    .venv/bin/pip install -e '.[bench]'        # ansible-core, for the Ansible column
    .venv/bin/python bench/compare.py          # about 15 minutes on 2 cores; --quick: a few
    .venv/bin/python bench/compare.py --write  # also writes docs/performance.md (table + SVG)

Everything runs in this one process, alternating (each pair runs the tools in a rotating order,
so a load spike hits them alike), against the project's fake cluster with the real kubectl:

- start-up: `invoke lab.plan` and `invoke --list` against `python -c pass`, `bash -c true` and
  `ansible-playbook --version`;
- per-step overhead: 100 `true` steps minus 1, through `invoke`, `ansible-playbook` and bash;
- the seed lab (playbooks/basics, `invoke lab.up` on the fake provider) against
  bench/compare/seed.sh and bench/compare/seed.yml, which run the same commands (checked: the
  kubectl and curl argv of one run of each are compared after pod names and ports are
  normalised);
- `lab.verify`: its kubectl calls per host and its own time on top of them (a PATH shim logs
  every kubectl call with its start and end);
- N participants on one shared cluster (provider `context`, a namespace each, `isolation:
  false`: the lab runs as the instructor, as the script does) against
  bench/compare/participant.sh run by `xargs -P N`. Workshop isolation (an account, role, quota
  and token per participant) is bench/bench_workshop.py's: it replays labtools' own commands.

Figures are medians; a ratio is the median of the per-pair ratios. Wall time is what a user
waits; CPU is user + system of the tool's whole process tree (kubectl calls included, the fake
API server not), from the rusage of the waited-for children. The load average is printed with
the table: the machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "compare"
IMAGE = "gcr.io/google-samples/kubernetes-bootcamp:v1"
POD_DELAY = "0.3"  # seconds the fake takes to make a pod Ready (what the integration tests use)
TIMEOUT = 900
SECTIONS = ("startup", "steps", "commands", "verify", "seed", "participants")


# --- running and timing ---------------------------------------------------------------------


@dataclass
class Sample:
    """One timed run: wall seconds and CPU seconds of the whole process tree."""

    wall: float
    cpu: float


def children_cpu() -> float:
    """User + system CPU of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> Sample:
    """Run ``argv`` to success and time it; a failure ends the benchmark with its output."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        list(argv),
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    sample = Sample(time.perf_counter() - started, children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(
            f"{shlex.join(argv)[:300]} failed ({done.returncode}):\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return sample


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def median(values: Sequence[float]) -> float:
    """The median (0 for no values)."""
    return statistics.median(values) if values else 0.0


@dataclass
class Series:
    """Samples of several tools, gathered pair by pair."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, tool: str, sample: Sample) -> None:
        """Keep one sample of ``tool``."""
        self.samples.setdefault(tool, []).append(sample)

    def wall(self, tool: str) -> float:
        """Median wall seconds."""
        return median([s.wall for s in self.samples.get(tool, [])])

    def cpu(self, tool: str) -> float:
        """Median CPU seconds."""
        return median([s.cpu for s in self.samples.get(tool, [])])

    def ratio(self, tool: str, base: str, what: str = "wall") -> float:
        """Median of the per-pair ratios ``tool / base``."""
        pairs = zip(self.samples.get(tool, []), self.samples.get(base, []), strict=False)
        return median([getattr(a, what) / getattr(b, what) for a, b in pairs])


def alternate(
    runs: int,
    tools: dict[str, Callable[[], Sample]],
    series: Series,
    sometimes: dict[str, int] | None = None,
) -> None:
    """``runs`` pairs; each pair runs every tool once, the order rotating pair by pair.

    A tool in ``sometimes`` (name -> count) joins only the first ``count`` pairs: Ansible's seed
    lab takes minutes a run, so it is sampled less often than the two it is compared with.
    """
    for index in range(runs):
        names = [n for n in tools if index < (sometimes or {}).get(n, runs)]
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            series.add(name, tools[name]())
        print(f"    pair {index + 1}/{runs}: " + ", ".join(
            f"{n} {series.samples[n][-1].wall:.2f}s" for n in names
        ), flush=True)  # fmt: skip


# --- the project ---------------------------------------------------------------------------


def playbook_path(root: Path, lab: str) -> Path:
    """Where a lab's playbook lives in this checkout's layout."""
    folder = REPO / "playbooks" / "basics"
    if folder.is_dir():
        return root / "playbooks" / lab / "playbook.yml"
    return root / "playbooks" / f"{lab}.yml"


def make_project(root: Path, inventory: str) -> None:
    """A copy of the project (tasks.py, playbooks, templates) with ``inventory``."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "tasks.py", root / "tasks.py")
    shutil.copytree(REPO / "playbooks", root / "playbooks")
    if (REPO / "templates").is_dir():
        shutil.copytree(REPO / "templates", root / "templates")
    (root / "inventory.yml").write_text(inventory)


def base_env(work: Path) -> dict[str, str]:
    """An isolated HOME, plain output, this venv first on PATH, bytecode written as a user's."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "LABTOOLS_"))}
    # a user's Python writes .pyc files: without them every start compiles labtools again
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        HOME=str(home),
        KUBECONFIG=str(home / ".kube" / "config"),
        NO_COLOR="1",
        LABTOOLS_FAKE_POD_DELAY=POD_DELAY,
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOWS="1",
    )
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def invoke(*args: str) -> list[str]:
    """``python -m invoke ARGS``."""
    return [sys.executable, "-m", "invoke", *args]


def ansible_playbook() -> str | None:
    """The ansible-playbook next to this Python, or on PATH; None when not installed."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.exists() else shutil.which("ansible-playbook")


# --- start-up and per-step overhead --------------------------------------------------------


def steps_lab(count: int) -> str:
    """A lab whose explore phase is ``count`` `true` commands."""
    lines = [f"name: steps{count}", "explore:"]
    lines += [f"  - name: true {i}\n    command: /usr/bin/true" for i in range(count)]
    return "\n".join(lines) + "\n"


def steps_playbook(count: int) -> str:
    """An Ansible playbook of ``count`` `command: true` tasks."""
    tasks = "".join(
        f"    - name: true {i}\n      ansible.builtin.command: /usr/bin/true\n"
        for i in range(count)
    )
    return f"- hosts: localhost\n  gather_facts: false\n  tasks:\n{tasks}"


def measure_startup(root: Path, env: dict[str, str], runs: int) -> Series:
    """Start-up: invoke lab.plan / --list against python, bash and ansible-playbook --version."""
    tools: dict[str, Callable[[], Sample]] = {
        "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env, root),
        "bash -c true": lambda: timed(["bash", "-c", "true"], env, root),
        "invoke --list": lambda: timed(invoke("--list"), env, root),
        "invoke lab.plan": lambda: timed(invoke("lab.plan"), env, root),
    }
    playbook = ansible_playbook()
    if playbook:
        tools["ansible-playbook --version"] = lambda: timed([playbook, "--version"], env, root)
    for run in tools.values():  # warm the disk cache and write the bytecode
        run()
    series = Series()
    alternate(runs, tools, series)
    return series


def measure_steps(
    root: Path, env: dict[str, str], runs: int, ansible_runs: int = 2
) -> dict[str, Series]:
    """Per-step overhead: 100 `true` steps minus 1 step, per tool, in seconds per step."""
    for count in (1, 100):
        path = playbook_path(root, f"steps{count}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(steps_lab(count))
        (root / f"steps{count}.yml").write_text(steps_playbook(count))
        (root / f"steps{count}.sh").write_text("/usr/bin/true\n" * count)
    playbook = ansible_playbook()

    def tool(count: int, ansible: bool = True) -> dict[str, Callable[[], Sample]]:
        found: dict[str, Callable[[], Sample]] = {
            "labtools": lambda: timed(invoke("lab.explore", "--lab", f"steps{count}"), env, root),
            "bash": lambda: timed(["bash", f"steps{count}.sh"], env, root),
        }
        if playbook and ansible:
            found["ansible"] = lambda: timed(
                [playbook, "-i", "localhost,", "-c", "local", f"steps{count}.yml"], env, root
            )
        return found

    series = {1: Series(), 100: Series()}
    # every run but lab.up and lab.down looks for its cluster first (the preflight): up it goes,
    # the same for 1 and 100 steps, so the per-step difference does not count it
    timed(invoke("lab.setup"), env, root)
    try:
        for run in tool(1).values():  # warm-up: bytecode, disk cache
            run()
        for index in range(runs):
            for count in (1, 100):
                alternate(1, tool(count, ansible=index < ansible_runs), series[count])
            print(f"    steps round {index + 1}/{runs} done", flush=True)
    finally:
        timed(invoke("lab.down"), env, root)
    per_step = Series()
    for name, samples in series[100].samples.items():
        for many, one in zip(samples, series[1].samples[name], strict=False):
            per_step.add(name, Sample((many.wall - one.wall) / 99, (many.cpu - one.cpu) / 99))
    return {"per_step": per_step}


# --- the seed lab --------------------------------------------------------------------------


@dataclass
class Seed:
    """How to run the seed lab three ways against the fake provider."""

    root: Path
    env: dict[str, str]
    bash_env: dict[str, str]
    ansible_vars: Path

    def labtools(self) -> Sample:
        """`invoke lab.up`, then an untimed `invoke lab.down`."""
        sample = timed(invoke("lab.up"), self.env, self.root)
        timed(invoke("lab.down"), self.env, self.root)
        return sample

    def bash(self) -> Sample:
        """bench/compare/seed.sh, then an untimed teardown."""
        ports = free_ports(2)
        env = {**self.bash_env, "PORT": str(ports[0]), "VPORT": str(ports[1])}
        sample = timed(["bash", str(HERE / "seed.sh")], env, self.root)
        self.teardown()
        return sample

    def ansible(self) -> Sample:
        """bench/compare/seed.yml, then an untimed teardown."""
        playbook = ansible_playbook()
        assert playbook
        ports = free_ports(2)
        data = json.loads(self.ansible_vars.read_text())
        data.update(port=ports[0], vport=ports[1])
        self.ansible_vars.write_text(json.dumps(data))
        argv = [playbook, "-i", "localhost,", "-c", "local", str(HERE / "seed.yml")]
        sample = timed([*argv, "-e", f"@{self.ansible_vars}"], self.env, self.root)
        self.teardown()
        return sample

    def teardown(self) -> None:
        """What `lab.down` does: delete the fake minikube profile."""
        profile = self.bash_env["PROFILE"]
        timed([*shlex.split(self.bash_env["MINIKUBE"]), "delete", "-p", profile], self.bash_env,
              self.root)  # fmt: skip


def seed_setup(work: Path) -> Seed:
    """A project on the fake provider, and the bash/Ansible settings from its own provider."""
    root = work / "seed"
    make_project(root, "all:\n  vars: {provider: fake}\n  hosts:\n    basics:\n")
    env = base_env(work)
    sys.path.insert(0, str(REPO))
    from labtools.app import load
    from labtools.core.options import RunOptions

    loaded = load(root, RunOptions(lab="basics"))
    host_plan = loaded.plan.hosts[0]
    provider = loaded.providers[host_plan.host.name]
    host = host_plan.host
    variables = {**host.vars, **host_plan.vars}
    host = type(host)(host.name, host.provider, variables, host.groups, host.source)
    start = provider.cluster(host, "start").run or ()
    minikube = list(provider.minikube(host, ()))
    minikube = minikube[: minikube.index("-p")] if "-p" in minikube else minikube
    start_flags = list(start[len(minikube) :])
    start_flags = start_flags[: start_flags.index("-p")] if "-p" in start_flags else start_flags
    fake_env = dict(provider.env(host))
    bash_env = {
        **env,
        **fake_env,
        "MINIKUBE": shlex.join(minikube),
        "PROFILE": str(variables["profile"]),
        "CTX": str(variables["kube_context"]),
        "START": shlex.join(start_flags[1:]),  # after the word `start`
        "IMAGE": IMAGE,
    }
    vars_file = work / "ansible-vars.json"
    vars_file.write_text(
        json.dumps(
            {
                "minikube": minikube,
                "profile": bash_env["PROFILE"],
                "ctx": bash_env["CTX"],
                "start": start_flags,
                "image": IMAGE,
                "env": fake_env,
                "workdir": str(work),
            }
        )
    )
    return Seed(root, env, bash_env, vars_file)


# --- what the three ran: the same commands? ---------------------------------------------


# The shim waits for the real binary in the background so that a TERM (the scripts' `kill` of a
# proxy) reaches the real binary too instead of leaving it running.
SHIM = """#!/usr/bin/env bash
start=$EPOCHREALTIME
{real} "$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT HUP
wait "$child"
rc=$?
{{ printf '%s\\t%s\\t%s\\t' "$start" "$EPOCHREALTIME" {name}
  printf '%s\\x1f' "$@"; echo; }} >> {log}
exit $rc
"""


@contextlib.contextmanager
def shimmed(work: Path, env: dict[str, str], log: Path) -> Iterator[dict[str, str]]:
    """``env`` with PATH shims for kubectl and curl that log every call (start, end, argv)."""
    shims = work / "shims"
    shims.mkdir(exist_ok=True)
    for name in ("kubectl", "curl"):
        real = shutil.which(name, path=env["PATH"])
        assert real, f"{name} not found"
        script = shims / name
        script.write_text(SHIM.format(real=shlex.quote(real), name=name, log=shlex.quote(str(log))))
        script.chmod(0o755)
    yield {**env, "PATH": f"{shims}:{env['PATH']}"}


@dataclass(frozen=True)
class Call:
    """One logged kubectl/curl call."""

    start: float
    end: float
    program: str
    args: tuple[str, ...]


def read_calls(log: Path) -> list[Call]:
    """The calls a shim log holds (arguments separated by the unit separator)."""
    calls = []
    for line in log.read_text().splitlines() if log.exists() else []:
        start, end, program, args = line.split("\t", 3)
        calls.append(Call(float(start), float(end), program, tuple(args.split("\x1f")[:-1])))
    return calls


def normalised(calls: Sequence[Call]) -> list[str]:
    """Calls as comparable text: the same command however each tool spells it.

    Pod names and ports become POD and PORT; `--context=X` is `--context X`; `-n default` (the
    fake provider's namespace, kubectl's default) goes; an exec's `/bin/sh -c CMD` (testinfra)
    is CMD's words; `-o json` and `-o jsonpath=...` (the bash script's way to read the same
    objects) are both `-o JSON`.
    """
    out = []
    for call in calls:
        args: list[str] = []
        for arg in call.args:
            if arg.startswith("--context="):
                args += ["--context", arg.split("=", 1)[1]]
            else:
                args.append(arg)
        text = " ".join(args)
        text = text.replace(" -n default", "")
        text = re.sub(r"-- /bin/sh -c (.*)$", r"-- \1", text)
        text = re.sub(r"kubernetes-bootcamp-[0-9a-f]+-[0-9a-z]+", "POD", text)
        text = re.sub(r"(127\.0\.0\.1|localhost):\d+", "HOST:PORT", text)
        text = re.sub(r"--port=\d+", "--port=PORT", text)
        text = re.sub(r"-o (json|jsonpath=.*)$", "-o JSON", text)
        out.append(f"{call.program} {text}")
    return out


def command_check(work: Path, seed: Seed) -> tuple[dict[str, int], list[str]]:
    """Run each tool once with the shims; calls per tool and the differences from labtools."""
    runs = {"labtools": seed.labtools, "bash": seed.bash}
    if ansible_playbook():
        runs["ansible"] = seed.ansible
    texts: dict[str, list[str]] = {}
    for name, run in runs.items():
        log = work / f"calls-{name}.log"
        with shimmed(work, seed.env, log) as env:
            saved = (seed.env, seed.bash_env)
            seed.env, seed.bash_env = env, {**seed.bash_env, "PATH": env["PATH"]}
            try:
                run()
            finally:
                seed.env, seed.bash_env = saved
        # the readiness polls of the proxies are not steps (labtools probes in-process)
        calls = [c for c in read_calls(log) if c.args[:1] != ("-sf",)]
        texts[name] = sorted(normalised(calls))
    differences = []
    for name, text in texts.items():
        if name == "labtools":
            continue
        only_lab = sorted(set(texts["labtools"]) - set(text))
        only_other = sorted(set(text) - set(texts["labtools"]))
        differences += [f"{name} lacks: {c}" for c in only_lab]
        differences += [f"{name} adds: {c}" for c in only_other]
    return {name: len(text) for name, text in texts.items()}, differences


# --- lab.verify: kubectl calls per host, its own time ---------------------------------------


@dataclass(frozen=True)
class VerifyFigures:
    """What one `invoke lab.verify` of the seed lab did."""

    calls: int  # by the checks
    execs: int  # of those, `kubectl exec`
    step: float
    in_calls: float
    services: int = 0  # kubectl services of the verify phase (its proxy)

    @property
    def own(self) -> float:
        """The verify step's time that is not spent in its kubectl calls."""
        return self.step - self.in_calls


def measure_verify(work: Path, seed: Seed) -> VerifyFigures:
    """`invoke lab.verify` on a lab that is up, with the kubectl shim logging its calls."""
    timed(invoke("lab.setup"), seed.env, seed.root)
    timed(invoke("lab.deploy"), seed.env, seed.root)
    log = work / "calls-verify.log"
    with shimmed(work, seed.env, log) as env:
        timed(invoke("lab.verify"), env, seed.root)
    journal = (seed.root / "runs" / "latest" / "journal.jsonl").read_text().splitlines()
    timed(invoke("lab.down"), seed.env, seed.root)
    records = [json.loads(line) for line in journal]
    ends = [r for r in records if r["kind"] == "step_end" and r["result"]["argv"]]
    checks = next(r for r in ends if "pytest" in " ".join(r["result"]["argv"]))
    started = checks["result"]["started"]
    finished = started + checks["result"]["duration"]
    # the proxy's own shim logs nothing: the run ends it before it returns
    calls = [c for c in read_calls(log) if c.program == "kubectl"]
    inside = [c for c in calls if started <= c.start <= finished]
    verify_services = [
        r for r in ends if r["phase"] == "verify" and r["result"]["argv"][:1] == ["kubectl"]
    ]
    return VerifyFigures(
        services=len(verify_services),
        calls=len(calls),
        execs=sum(1 for c in calls if "exec" in c.args),
        step=checks["result"]["duration"],
        in_calls=sum(c.end - c.start for c in inside),
    )


# --- N participants on one cluster --------------------------------------------------------


def measure_participants(work: Path, counts: Sequence[int], runs: int) -> dict[int, Series]:
    """N participants (provider context, a namespace each, no isolation: the same work as the
    script) against N parallel bash scripts."""
    from labtools.testing.cluster import FakeCluster

    results: dict[int, Series] = {}
    with FakeCluster(work / "shared", pod_ready_delay=float(POD_DELAY)) as cluster:
        for count in counts:
            root = work / f"participants-{count}"
            make_project(
                root,
                "all:\n  vars:\n    provider: context\n    isolation: false\n"
                f"    kube_context: {cluster.context}\n    kubeconfig: {cluster.kubeconfig}\n"
                f"  hosts:\n    p[01:{count:02d}]:\n",
            )
            env = {**base_env(work), "KUBECONFIG": str(cluster.kubeconfig)}
            hosts = [f"p{i:02d}" for i in range(1, count + 1)]
            bash_env = {**env, "CTX": cluster.context, "IMAGE": IMAGE}

            def labtools(root: Path = root, env: dict[str, str] = env, n: int = count) -> Sample:
                sample = timed(invoke("lab.up", "-f", str(n)), env, root)
                timed(invoke("lab.down", "-f", str(n)), env, root)
                return sample

            def bash(env: dict[str, str] = bash_env, hosts: list[str] = hosts) -> Sample:
                ports = free_ports(2 * len(hosts))
                lines = "".join(
                    f"lab-{h} {ports[2 * i]} {ports[2 * i + 1]}\n" for i, h in enumerate(hosts)
                )
                script = str(HERE / "participant.sh")
                argv = ["xargs", "-P", str(len(hosts)), "-n", "3", "bash", script]
                sample = timed(argv, env, work, stdin=lines)
                names = [f"lab-{h}" for h in hosts]
                kubectl = ["kubectl", "--context", cluster.context]
                timed([*kubectl, "delete", "namespace", *names, "--wait=true"], env, work)
                return sample

            print(f"  {count} participant(s)", flush=True)
            series = Series()
            alternate(runs, {"labtools": labtools, "bash": bash}, series)
            results[count] = series
    return results


# --- the table and the chart ----------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    figure: str
    labtools: str
    bash: str
    ansible: str
    ratio: str
    aim: str = ""

    def cells(self) -> list[str]:
        """The row as table cells."""
        return [self.figure, self.labtools, self.bash, self.ansible, self.ratio, self.aim]


HEADER = ["figure", "labtools", "bash", "ansible", "labtools / bash", "aim"]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (also readable as printed)."""
    cells = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def chart(bars: Sequence[tuple[str, str, float]]) -> str:
    """A horizontal bar chart (SVG, log scale) of ratios to bash: (group, tool, ratio)."""
    import math

    colours = {"labtools": "#2b6cb0", "ansible": "#c05621"}
    left, width, bar, gap = 250, 420, 16, 8
    height = 40 + len(bars) * (bar + gap)
    top = max(ratio for _, _, ratio in bars) * 1.5

    def x(ratio: float) -> float:
        return left + width * math.log10(max(ratio, 1.0)) / math.log10(max(top, 10.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}"'
        ' font-family="sans-serif" font-size="12">',
        f'<text x="{left}" y="14">times bash (log scale; 1 = as fast as the bash script)</text>',
    ]
    for tick in (1, 1.25, 2, 5, 10, 100, 1000):
        if tick <= top:
            parts.append(
                f'<line x1="{x(tick):.1f}" y1="20" x2="{x(tick):.1f}" y2="{height - 4}" '
                f'stroke="#ccc"/><text x="{x(tick) + 2:.1f}" y="{height - 6}" fill="#666">'
                f"{tick:g}x</text>"
            )
    for index, (group, tool, ratio) in enumerate(bars):
        y = 26 + index * (bar + gap)
        label = html.escape(f"{group}: {tool}")
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{label}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{max(x(ratio) - left, 1):.1f}" height="{bar}" '
            f'fill="{colours.get(tool, "#555")}"/>'
        )
        parts.append(f'<text x="{x(ratio) + 4:.1f}" y="{y + 12}">{ratio:.2f}x</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def fmt(seconds: float, unit: str = "s") -> str:
    """Seconds as ``1.23 s`` or milliseconds as ``4.5 ms``."""
    if unit == "ms":
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


NOTES = """\
## Where the time goes

- **kubectl is the floor for every tool.** Each call starts a Go binary and opens a TLS
  connection (about 40 ms of CPU here); the seed lab makes 21 kubectl and curl calls in all
  three (the row above compares their argv). Two differ: labtools' preflight reads the
  kubeconfig once (`kubectl config view`: a kubeconfig kubectl cannot load is a clear error
  before anything starts; the kubeconfigs of many hosts are one call, `KUBECONFIG` as a list),
  and the scripts run `curl .../api/v1/nodes` for the proxy check,
  which the checks make as an HTTP request inside their process. The fake minikube (`python
  -m labtools.testing.minikube`) is a Python start per call (~0.1 s). One minikube call
  differs: on a first start labtools does not run `minikube status` (the scripts do, as `status
  || start` is written): minikube writes the profile's `profiles/<p>/config.json` first, and
  without it status can only say "Profile not found". A running lab is still asked (`lab.up`
  again is `ok`, nothing started).
- **Start-up.** `invoke --list` is Python and invoke (invoke imports `unittest.mock`, `asyncio`
  and `importlib.metadata` itself); it imports nothing of labtools. `lab.plan` adds loading the
  lab: YAML, Jinja2, and every step rendered for every host before anything runs (the checks that
  make a typo an error before the cluster starts). Without bytecode (`PYTHONDONTWRITEBYTECODE`)
  compiling labtools adds ~100 ms to every start: the benchmark lets Python write it, as a user's
  Python does. invoke itself turns the bytecode cache off before it imports `tasks.py` (unless
  `--write-pyc`): `tasks.py` turns it back on for labtools (as Python was started), else the
  runner, the process layer and the reporters were compiled again by every run (start to first
  step 489 -> 397 ms). `tasks.py` also makes Python's young-generation collections rarer
  (every 50,000 allocations, not 700) while the start builds long-lived objects (-30 ms).
- **What the start still costs**, measured in-process on this machine (quiet): Python and
  `site` ~40 ms, `import invoke` ~100 ms, invoke's parsing and `tasks.py` ~30 ms, labtools'
  own modules ~55 ms (most of it its 73 frozen dataclasses generating their methods with
  `exec`), loading the lab ~55 ms (importing Jinja2 ~25 ms, compiling the lab's 30 templates
  ~20 ms), the run's modules (rich ~20 ms) ~40 ms while the preflight's kubectl runs. A bash
  script pays none of it: ~0.3 s beside a 2.6 s seed lab, most of the gap to the 1.15x aim.
- **The checks** (`lab.verify`, the last step of `lab.up`) run in a process started with the
  run's first step: pytest, testinfra, labtools and the lab are loaded before the step. What the
  step still pays is pytest's own start with the step's arguments (configuration, the lab's
  variables for the checked hosts, collection: ~50 ms under the run's load), now beside the
  snapshot's `kubectl get` (see the verify item below).
- **Per step** what labtools pays is how it starts a process (`labtools/effects/process.py`).
  A step nobody watches live (every step below `-vv`) starts through `subprocess.Popen`: vfork
  + exec in C, stdout and stderr into in-memory files read once it ends, stdin from /dev/null or
  an in-memory file holding the step's `stdin:` (as bash does for a here-document): no pipe, no
  thread, no start-up handshake. `sh` is kept where its line callbacks earn their cost: live
  output (`-vv`, minikube's progress events) and background services (`kubectl proxy`); an
  interactive step is the terminal's (`subprocess`, its own foreground group). Every path keeps
  the timeout, its own session (process group) ended on timeout, Ctrl-C and SIGTERM, and the
  registry that ends whatever a command left running. Measured with `bench/bench_runner.py`
  (8 x 100 `true` steps through `run_plan` with the real reporters, alternating with a
  `subprocess.run` loop; load average about 5 on 2 CPUs; overhead = per step minus the loop's):

  | launch path | overhead, wall | overhead, CPU |
  |---|---|---|
  | `sh` for every step (before) | 5.8-7.0 ms | 6.7 ms |
  | vfork + exec, in-memory files (now, below `-vv`) | 0.30-0.37 ms | 0.40-0.51 ms |
  | `sh` with line callbacks (now, `-vv`: `--live`) | 7.2-7.3 ms | 6.8-8.2 ms |

  Why sh cannot get under 5 ms: it forks the whole interpreter (no vfork), runs Python in the
  child until exec (every page it touches is copied), the parent waits on the child's start-up
  pipe, and two or three threads start per command, each waiting for the scheduler. In a small
  process (sh imported, nothing else) its cheapest call (`_bg`, file descriptors for output, no
  stdin pipe, `_tty_out=False`) costs 3.5-3.7 ms against `subprocess.run`'s 0.7 ms; a bare
  `os.fork` + exec 2.0 ms, `os.posix_spawn` 0.7 ms. Tried and dropped: `gc.freeze()` before the
  fork (8.02 vs 8.00 ms CPU per live step: sh already disables the collector around its fork),
  `_no_pipe` (6.51 vs 6.30 ms, within the noise, and no memory saved on 3 million live lines),
  `_close_fds=False` (3.67 vs 3.62 ms) and `_no_out`/`_no_err`/`_internal_bufsize` (sh keeps no
  copy when output goes to callbacks anyway). A pre-forked launcher ("zygote") does not pay: a
  fork + exec from a 2 MiB `python -S` still costs 1.47 ms against 0.89 ms for `posix_spawn`
  from the same process, before any request to it, while vfork's cost does not grow with the
  heap. On a loaded machine the wall figure grows with the run queue, the CPU figure much less.
- **The verify step** is a pytest process with only the plugins it names
  (`PYTEST_DISABLE_PLUGIN_AUTOLOAD`), one `kubectl get -o json` snapshot per host (all hosts'
  at once) and one `kubectl exec` per in-pod check (no testinfra OS detection); the proxy check
  compares the nodes the proxy lists with the snapshot's by uid (no `kubectl version`). Its
  proxy, the preflight's `kubectl version` (the cluster answers; the kubeconfig is looked at
  only when it does not) and the snapshot are the 3 calls per host. The process starts with
  the run (`labtools/verify/warm.py`): it imports pytest, testinfra and labtools (about 0.25 s
  of CPU) and loads the lab once while the lab's first steps run, then takes its command on
  stdin, so the step pays only pytest's own start, the lab's load for its hosts and the checks
  (0.82 s -> 0.31-0.37 s in the seed lab; pytest is given `--confcutdir .`, or with
  `-c /dev/null` its collection would look at every entry of every folder above the project);
  what the start built is frozen out of the garbage collector, so pytest's collections at the
  end walk only what the checks made (-0.1 s of CPU). When its command comes, it starts the
  `kubectl get` of the snapshot of the host it prepared at once, while pytest starts; the
  `cluster` fixture takes that read when its call is exactly the same (argv and environment)
  and no check or check fixture has run yet (else it reads again): the checks step 418 -> 358
  ms, below the script's own 372 ms (9 rotating rounds). It exits without the interpreter's
  teardown (~10 ms).
  N hosts share about sqrt(N) such processes (`labtools/effects/checks.py`), not one each, and
  all of them run at once (up to `--forks`).
- **Waits.** Node readiness is a `kubectl wait` (a watch); until-loops retry after 0.2 s and
  back off to their `delay`, where the bash script's `sleep 2` waits the whole delay: that is
  why labtools can finish before the script when a pod is not Ready at the first look, and why
  30 participants finish sooner than 30 parallel scripts.
- **Workshops** (provider `context`, a namespace per participant on one API server): the CPU per
  participant is what a 2-core machine runs out of; labtools' extra is its start (once for all
  participants), the per-step cost, and the checks processes (about sqrt(N) for N hosts). The
  checks step of 30 participants was the one step that left CPU idle (8.9 s at 64% of both
  cores): a session's hosts waited for each other in the pool's threads, so the 5 sessions ran
  one after another; they now wait outside the pool and run together (7.0 s at 98%).
  With isolation (an account, role, quota and token each, the lab run as each participant) and
  in host mode (a minikube profile each), `bench/bench_workshop.py` compares labtools with a
  replay of its own commands: [performance-workshops.md](performance-workshops.md).
"""


def write_docs(text: str, svg: str, load: str) -> Path:
    """docs/performance.md (how to run it, the load, the table as printed, notes) and the chart."""
    docs = REPO / "docs"
    (docs / "performance.svg").write_text(svg + "\n")
    path = docs / "performance.md"
    path.write_text(
        "# Performance: labtools against bash and Ansible\n\n"
        "Measured by `bench/compare.py` (`python bench/compare.py --write` measures again on your "
        "machine and rewrites this file and `performance.svg`). Every figure is a median of "
        "paired runs on the same fake cluster with the real kubectl; a ratio is the median of "
        "the per-pair ratios. The machine these figures come from is shared: its load is "
        "printed with them.\n\n"
        f"{load}\n\n```\n{text}\n```\n\n![labtools and Ansible, times bash](performance.svg)"
        f"\n\n{NOTES}"
    )
    return path


# --- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Measure everything, print the table, optionally write docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=8, help="paired runs of the seed lab")
    parser.add_argument("--ansible-pairs", type=int, default=3, help="of those, with Ansible")
    parser.add_argument("--participants", default="1,8,30", help="participant counts")
    parser.add_argument("--participant-pairs", type=int, default=3)
    parser.add_argument("--step-rounds", type=int, default=5)
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 pairs, 1 and 8 participants")
    parser.add_argument("--write", action="store_true", help="write docs/performance.md")
    parser.add_argument("--only", help=f"comma-separated sections of: {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.participants, args.participant_pairs = 2, "1,8", 1
        args.ansible_pairs = 1
        args.step_rounds, args.startup_runs = 2, 4
    counts = [int(c) for c in args.participants.split(",") if c]
    if not ansible_playbook():
        print("ansible-playbook not found: no Ansible column (pip install -e '.[bench]')")
    load_before = os.getloadavg()
    began = time.monotonic()
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    startup, per_step, lab = Series(), Series(), Series()
    counted: dict[str, int] = {}
    differences: list[str] = []
    verify = VerifyFigures(0, 0, 0.0, 0.0)
    groups: dict[int, Series] = {}
    with tempfile.TemporaryDirectory(prefix="labtools-compare-") as tmp:
        work = Path(tmp)
        seed = seed_setup(work)
        if "startup" in only:
            print("start-up", flush=True)
            startup = measure_startup(seed.root, seed.env, args.startup_runs)
        if "steps" in only:
            print("per-step overhead (100 steps - 1 step) / 99", flush=True)
            per_step = measure_steps(seed.root, seed.env, args.step_rounds)["per_step"]
        if "commands" in only:
            print("the seed lab: do the three run the same commands?", flush=True)
            counted, differences = command_check(work, seed)
        if "verify" in only:
            print("lab.verify: kubectl calls and its own time", flush=True)
            verify = measure_verify(work, seed)
        if "seed" in only:
            print(f"the seed lab, {args.pairs} pairs", flush=True)
            tools: dict[str, Callable[[], Sample]] = {"labtools": seed.labtools, "bash": seed.bash}
            if ansible_playbook():
                tools["ansible"] = seed.ansible
            alternate(args.pairs, tools, lab, sometimes={"ansible": args.ansible_pairs})
        if "participants" in only:
            print("participants on one shared cluster", flush=True)
            groups = measure_participants(work, counts, args.participant_pairs)
    load = (
        f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        f"({os.cpu_count()} CPUs), {(time.monotonic() - began) / 60:.0f} minutes; "
        f"fake pod start {POD_DELAY} s; python {sys.version.split()[0]}"
    )
    rows, bars = report_rows(startup, per_step, lab, counted, differences, verify, groups)
    text = table(rows)
    print()
    print(load)
    print(text)
    for line in differences:
        print(f"  command difference: {line}")
    if args.write:
        print(f"wrote {write_docs(text, chart(bars), load)}")
    return 0


def report_rows(
    startup: Series,
    per_step: Series,
    lab: Series,
    counted: dict[str, int],
    differences: list[str],
    verify: VerifyFigures,
    groups: dict[int, Series],
) -> tuple[list[Row], list[tuple[str, str, float]]]:
    """The table's rows and the chart's bars."""
    has_ansible = "ansible" in lab.samples
    rows = [
        Row(
            "seed lab.up, wall",
            fmt(lab.wall("labtools")),
            fmt(lab.wall("bash")),
            fmt(lab.wall("ansible")) if has_ansible else "-",
            f"{lab.ratio('labtools', 'bash'):.2f}x"
            + (f" (ansible {lab.ratio('ansible', 'bash'):.2f}x)" if has_ansible else ""),
            "<= 1.15x",
        ),
        Row(
            "seed lab.up, CPU",
            fmt(lab.cpu("labtools")),
            fmt(lab.cpu("bash")),
            fmt(lab.cpu("ansible")) if has_ansible else "-",
            f"{lab.ratio('labtools', 'bash', 'cpu'):.2f}x",
        ),
        Row(
            "seed lab commands (kubectl+curl)",
            str(counted.get("labtools", 0)),
            str(counted.get("bash", 0)),
            str(counted.get("ansible", "-")),
            "same" if not differences else f"{len(differences)} differ",
        ),
        Row(
            "per-step overhead, wall",
            fmt(per_step.wall("labtools"), "ms"),
            fmt(per_step.wall("bash"), "ms"),
            fmt(per_step.wall("ansible"), "ms") if has_ansible else "-",
            f"+{(per_step.wall('labtools') - per_step.wall('bash')) * 1000:.1f} ms",
            "<= 5 ms",
        ),
        Row(
            "per-step, CPU",
            fmt(per_step.cpu("labtools"), "ms"),
            fmt(per_step.cpu("bash"), "ms"),
            fmt(per_step.cpu("ansible"), "ms") if has_ansible else "-",
            f"+{(per_step.cpu('labtools') - per_step.cpu('bash')) * 1000:.1f} ms",
        ),
        Row(
            "start-up: invoke lab.plan",
            fmt(startup.wall("invoke lab.plan")),
            fmt(startup.wall("bash -c true")),
            fmt(startup.wall("ansible-playbook --version")) if has_ansible else "-",
            f"python -c pass {fmt(startup.wall('python -c pass'))}",
        ),
        Row(
            "start-up: invoke --list",
            fmt(startup.wall("invoke --list")),
            "",
            "",
            f"CPU {fmt(startup.cpu('invoke --list'))}, lab.plan CPU "
            f"{fmt(startup.cpu('invoke lab.plan'))}",
        ),
        Row(
            "lab.verify kubectl calls per host",
            f"{verify.calls - verify.execs + verify.services} + {verify.execs} exec",
            "",
            "",
            f"checks step {fmt(verify.step)}, own {fmt(verify.own)}",
            "<= 3 + 1 exec per in-pod check; own <= 0.6 s",
        ),
    ]
    bars = [("seed lab.up", "labtools", lab.ratio("labtools", "bash"))]
    if has_ansible:
        bars.append(("seed lab.up", "ansible", lab.ratio("ansible", "bash")))
    for tool in ("labtools", "ansible") if has_ansible else ("labtools",):
        base = per_step.wall("bash") or 1e-9
        bars.append(("per step", tool, per_step.wall(tool) / base))
    for count, series in groups.items():
        rows.append(
            Row(
                f"{count} participant(s), wall",
                fmt(series.wall("labtools")),
                fmt(series.wall("bash")),
                "",
                f"{series.ratio('labtools', 'bash'):.2f}x; CPU/participant "
                f"{fmt(series.cpu('labtools') / count)} vs {fmt(series.cpu('bash') / count)}",
                "<= 1.25x at 30",
            )
        )
        bars.append((f"{count} participants", "labtools", series.ratio("labtools", "bash")))
    return rows, bars


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    sys.exit(main())
