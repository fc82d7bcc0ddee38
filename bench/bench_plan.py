"""Benchmark: load + plan + render a 1,000-step playbook, and the cost of `import labtools`.

Run: .venv/bin/python bench/bench_plan.py   (aims: plan < 1 s, import < 150 ms over baseline)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = 1000
RUNS = 5
IMPORT_RUNS = 10

INVENTORY = """\
all:
  vars: {provider: fake}
  hosts:
    bench:
"""


def write_project(root: Path) -> None:
    """A project with one host and a playbook of STEPS steps spread over the phases."""
    (root / "playbooks").mkdir()
    (root / "templates").mkdir()
    (root / "inventory.yml").write_text(INVENTORY)
    (root / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ app_name }}-{{ index }}\n"
    )
    lines = ["name: bench", "vars:", "  app_name: demo", "  image: nginx:1.27", "  replicas: 2"]
    phases = ("setup", "deploy", "explore", "verify", "teardown")
    per_phase = STEPS // len(phases)
    for phase in phases:
        lines.append(f"{phase}:")
        for i in range(per_phase):
            lines += [
                f"  - name: {phase} step {i}",
                f"    kubectl: create deployment {{{{ app_name }}}}-{i} --image={{{{ image }}}}"
                " --replicas={{ replicas }}",
                f"    vars: {{index: {i}}}",
                "    when: replicas > 0",
                "    tags: [bench]",
            ]
    (root / "playbooks" / "bench").mkdir()
    (root / "playbooks" / "bench" / "playbook.yml").write_text("\n".join(lines) + "\n")


def plan_once(root: Path) -> float:
    """Seconds for Project.load + build_plan + rendering every step's argv."""
    from labtools.core.model import PHASES
    from labtools.core.plan import build_plan, step_vars
    from labtools.core.project import Project
    from labtools.core.render import evaluate, render_argv

    start = time.perf_counter()
    project = Project.load(root, "bench", None)
    plan = build_plan(project.inventory, project.lab, phases=PHASES)
    count = 0
    for host_plan in plan.hosts:
        for step in host_plan.steps:
            variables = step_vars(host_plan, step, {})
            if step.when:
                evaluate(step.when, variables)
            render_argv(step.spec, variables, source=step.source)
            count += 1
    elapsed = time.perf_counter() - start
    assert count == STEPS, count
    return elapsed


def clear_caches() -> None:
    """Forget compiled templates so every run pays for compiling, like a fresh process."""
    from labtools.core import plan, render

    for cached in (render._compile, render._compile_expression, plan._references):
        cached.cache_clear()


def import_times() -> tuple[float, float]:
    """Median seconds of `python -c pass` and `python -c "import labtools"`, interleaved."""
    base, imported = [], []
    subprocess.run([sys.executable, "-c", "import labtools"], check=True)  # warm the disk cache
    for _ in range(IMPORT_RUNS):
        for code, times in (("pass", base), ("import labtools", imported)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
    return statistics.median(base), statistics.median(imported)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root)
        runs = []
        for _ in range(RUNS):
            clear_caches()
            runs.append(plan_once(root))
    plan_median = statistics.median(runs)
    baseline, imported = import_times()
    extra_ms = (imported - baseline) * 1000
    print(
        f"plan of {STEPS} steps (load + plan + render): median {plan_median * 1000:.0f} ms "
        f"over {RUNS} runs (aim < 1000 ms)"
    )
    print(
        f"import labtools: {imported * 1000:.1f} ms, python -c pass: {baseline * 1000:.1f} ms, "
        f"extra {extra_ms:.1f} ms, ratio {imported / baseline:.2f} (aim extra < 150 ms)"
    )


if __name__ == "__main__":
    main()
