"""Benchmark: the Basics lab's explore phase through labtools vs the same kubectl commands as a
plain shell script, against the same fake cluster. Prints the medians and the ratios (aim < 1.10).

Two labtools figures, both against the same script run:
- `invoke lab.explore` as a new process: what a user waits, including Python's and invoke's own
  start, a fixed cost that no per-step work can hide; the script prints that start-up as
  measured in the same loop (`invoke --list`: Python, invoke and tasks.py, no lab);
- the explore phase run in this warm process (`labtools.app.run_lab`): labtools' own cost per run.

The script's `kubectl proxy` listens on a port that was free when the run began (never a fixed
8001: the machine may be shared), as labtools' own proxy step falls back to a free port.

    python bench/bench_explore.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
set -eu
k() { kubectl --context "$CTX" -n "$NS" "$@"; }
kubectl --context "$CTX" -n "$NS" proxy --port="$PORT" >/dev/null 2>&1 &
PROXY=$!
trap 'kill $PROXY 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/version" >/dev/null && break; sleep 0.05
done
curl -sS --fail "http://localhost:$PORT/version" >/dev/null
k get pods >/dev/null
k describe pods >/dev/null
POD_NAME=$(k get pods -o go-template --template '{{range .items}}{{.metadata.name}}{{"\n"}}{{end}}')
k logs "$POD_NAME" >/dev/null
k exec "$POD_NAME" -- env >/dev/null
k exec "$POD_NAME" -- curl -s localhost:8080 >/dev/null
curl -sS --fail "http://localhost:$PORT/api/v1/namespaces/$NS/pods/$POD_NAME:8080/proxy/" >/dev/null
"""


def free_port() -> int:
    """A port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds one command took; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def in_process(project: Path, env: dict[str, str]) -> float:
    """Seconds the explore phase takes through labtools.app.run_lab in this process."""
    import contextlib
    import io

    from labtools import app
    from labtools.core.options import RunOptions

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            app.run_lab(project, ("explore",), RunOptions())
        return time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> int:
    """Set the lab up on a fake cluster, then time explore both ways, alternating."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    from labtools.testing.cluster import FakeCluster

    with tempfile.TemporaryDirectory(prefix="bench-explore-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        shutil.copy2(REPO / "tasks.py", project / "tasks.py")
        shutil.copytree(REPO / "playbooks", project / "playbooks")
        with FakeCluster(work / "cluster", pod_ready_delay=0.2) as cluster:
            (project / "inventory.yml").write_text(
                "all:\n  hosts:\n    bench:\n      provider: context\n"
                f"      kube_context: {cluster.context}\n      kubeconfig: {cluster.kubeconfig}\n"
            )
            env = {**os.environ, "HOME": str(work), "NO_COLOR": "1"}
            env["KUBECONFIG"] = str(cluster.kubeconfig)
            env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
            invoke = [sys.executable, "-m", "invoke"]
            timed([*invoke, "lab.setup"], env, project)
            timed([*invoke, "lab.deploy"], env, project)
            script_env = {**env, "CTX": cluster.context, "NS": "lab-bench"}
            lab_times, warm_times, script_times, start_times = [], [], [], []
            in_process(project, env)  # imports and first compile, not timed
            for _ in range(runs):
                lab_times.append(timed([*invoke, "lab.explore"], env, project))
                warm_times.append(in_process(project, env))
                port = {"PORT": str(free_port())}
                script_times.append(timed(["bash", "-c", SCRIPT], {**script_env, **port}, project))
                start_times.append(timed([*invoke, "--list"], env, project))
            timed([*invoke, "lab.teardown"], env, project)
    lab, warm = statistics.median(lab_times), statistics.median(warm_times)
    script, start = statistics.median(script_times), statistics.median(start_times)
    print(f"explore phase, median of {runs} runs against the same fake cluster")
    print(f"  plain shell script              : {script:.3f} s")
    print(f"  invoke lab.explore (new process): {lab:.3f} s  ratio {lab / script:.2f}")
    print(f"    of which start-up (invoke --list, same loop): {start:.3f} s")
    print(f"  explore in a warm process       : {warm:.3f} s  ratio {warm / script:.2f}")
    print("  (aim: ratio < 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
