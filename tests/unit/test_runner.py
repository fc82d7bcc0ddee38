"""runner.py with real processes: controls, register chains, redaction, services, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import Location
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.redact import Redactor
from labtools.core.results import Event, Notice, RunSummary, StepProgress, StepResult
from labtools.effects.process import free_port
from labtools.effects.runner import run_plan, until_waits
from labtools.providers.base import ClusterOp

LOC = Location("playbooks/t.yml", 3)


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("MINIKUBE_HOME", str(tmp_path / "minikube"))


class StubProvider:
    """kubectl/minikube are stand-ins built from real binaries (echo)."""

    name = "stub"
    has_minikube = False

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("echo", "kubectl", *args)

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("echo", "minikube", *args)

    def env(self, host: Host) -> Mapping[str, str]:
        return {}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        return ClusterOp(
            name=op,
            probe=("sh", "-c", f"test -e {host.vars['marker']}"),
            is_done=lambda out: out.rc == 0,
            run=("sh", "-c", f"touch {host.vars['marker']}"),
        )


class Collect:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def step(name: str, action: str, spec: Any, **controls: Any) -> Step:
    return Step(
        name=name,
        phase=controls.pop("phase", "setup"),
        action=action,
        spec=spec,
        source=LOC,
        **controls,
    )


def run(
    steps: Sequence[Step],
    tmp_path: Path,
    *,
    hosts: Sequence[str] = ("h1",),
    variables: Mapping[str, Any] | None = None,
    reporters: Sequence[Any] = (),
    secrets: Sequence[str] = (),
) -> tuple[RunSummary, Collect]:
    lab = Lab(name="t", path="t.yml", phases={"setup": tuple(steps)})
    plans = tuple(
        HostPlan(
            Host(h, "stub", {"marker": str(tmp_path / f"{h}.marker")}),
            dict(variables or {}),
            tuple(steps),
        )
        for h in hosts
    )
    collect = Collect()
    summary = run_plan(
        Plan(lab=lab, phases=("setup",), hosts=plans),
        {"stub": StubProvider()},
        reporters=[collect, *reporters],
        run_dir=tmp_path,
        templates_dir=None,
        redactor=Redactor(secrets),
    )
    return summary, collect


def by_step(summary: RunSummary) -> dict[str, StepResult]:
    return {r.step: r for r in summary.results}


@pytest.mark.parametrize(
    ("controls", "argv", "status", "ignored"),
    [
        ({}, "true", "changed", False),
        ({"changed_when": False}, "true", "ok", False),
        ({"changed_when": "result.stdout == 'x\n'"}, "echo x", "changed", False),
        ({}, "sh -c 'exit 3'", "failed", False),
        ({"ignore_errors": True}, "sh -c 'exit 3'", "failed", True),
        ({"failed_when": "result.rc not in [0, 3]"}, "sh -c 'exit 3'", "changed", False),
        ({"failed_when": "'bad' in result.stdout"}, "echo bad", "failed", False),
        ({"when": "1 == 2"}, "true", "skipped", False),
        ({"timeout": 0.3}, "sleep 5", "failed", False),
    ],
)
def test_controls(
    controls: dict[str, Any], argv: str, status: str, ignored: bool, tmp_path: Path
) -> None:
    summary, _ = run([step("s", "command", argv, **controls)], tmp_path)
    (result,) = summary.results
    assert (result.status, result.ignored) == (status, ignored)


def test_timeout_message_and_rc(tmp_path: Path) -> None:
    summary, _ = run([step("s", "command", "sleep 5", timeout=0.3)], tmp_path)
    assert summary.results[0].rc == 124
    assert "timed out" in summary.results[0].message


def test_register_when_chain_and_json(tmp_path: Path) -> None:
    steps = [
        step("data", "command", """echo '{"items": [1, 2]}'""", register="data"),
        step("count", "command", "echo {{ data.json['items'] | length }}", register="count"),
        step("two", "command", "echo two", when="count.stdout_lines[0] == '2'", register="two"),
        step(
            "three", "command", "echo three", when="count.stdout_lines[0] == '3'", register="three"
        ),
        step("after", "command", "echo {{ three.skipped }} {{ two.changed }} {{ data.rc }}"),
    ]
    summary, _ = run(steps, tmp_path)
    results = by_step(summary)
    assert results["count"].stdout == "2\n"
    assert results["two"].status == "changed"
    assert results["three"].status == "skipped"
    assert results["three"].message == "when: count.stdout_lines[0] == '3' was false"
    assert results["after"].stdout == "true true 0\n"


def test_until_retries_with_a_counter_file(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = f"echo x >> {counter}; wc -l < {counter}"
    s = step(
        "poll",
        "command",
        ["sh", "-c", script],
        until="result.stdout | int >= 3",
        retries=5,
        delay=0.01,
    )
    summary, _ = run([s], tmp_path)
    (result,) = summary.results
    assert result.status == "changed"
    assert result.attempts == 3
    assert len(counter.read_text().splitlines()) == 3


def test_until_gives_up_after_retries(tmp_path: Path) -> None:
    s = step("poll", "command", "false", until="result.rc == 0", retries=2, delay=0.01)
    summary, _ = run([s], tmp_path)
    (result,) = summary.results
    assert (result.status, result.attempts) == ("failed", 3)
    assert "still false after 3" in result.message


def test_failed_host_stops_but_other_hosts_go_on(tmp_path: Path) -> None:
    steps = [
        step("maybe fail", "command", "sh -c 'exit {{ code }}'"),
        step("next", "command", "true"),
    ]
    lab = Lab(name="t", path="t.yml", phases={"setup": tuple(steps)})
    plans = (
        HostPlan(Host("bad", "stub", {}), {"code": 1}, tuple(steps)),
        HostPlan(Host("good", "stub", {}), {"code": 0}, tuple(steps)),
    )
    summary = run_plan(
        Plan(lab, ("setup",), plans),
        {"stub": StubProvider()},
        reporters=[],
        run_dir=tmp_path,
        templates_dir=None,
    )
    assert [(r.host, r.step, r.status) for r in summary.results if r.host == "bad"] == [
        ("bad", "maybe fail", "failed")
    ]
    assert [r.status for r in summary.results if r.host == "good"] == ["changed", "changed"]
    recaps = summary.recaps
    assert (recaps["bad"].failed, recaps["bad"].changed) == (1, 0)
    assert (recaps["good"].failed, recaps["good"].changed) == (0, 2)
    assert summary.failed


def test_template_error_is_a_failed_result(tmp_path: Path) -> None:
    summary, _ = run([step("s", "command", "echo {{ nope }}")], tmp_path)
    assert summary.results[0].status == "failed"
    assert "nope" in summary.results[0].message
    assert "playbooks/t.yml:3" in summary.results[0].message


def test_until_reports_each_retry_and_times_the_whole_step(tmp_path: Path) -> None:
    s = step("poll", "command", "false", until="result.rc == 0", retries=3, delay=0.2)
    summary, collect = run([s], tmp_path)
    (result,) = summary.results
    progress = [e.message for e in collect.events if isinstance(e, StepProgress)]
    assert progress == ["attempt 2/4", "attempt 3/4", "attempt 4/4"]
    assert result.duration >= 0.6  # three delays of 0.2 s: the retries are part of the step


def test_cluster_op_is_idempotent(tmp_path: Path) -> None:
    first, _ = run([step("start", "cluster", "start")], tmp_path)
    second, _ = run([step("start", "cluster", "start")], tmp_path)
    assert first.results[0].status == "changed"
    assert second.results[0].status == "ok"


def test_no_log_masks_results_and_events(tmp_path: Path) -> None:
    steps = [
        step("secret", "command", "echo {{ pw }}", no_log=True, register="sec"),
        step("use", "command", "test {{ sec.stdout | trim }} = hunter2"),
        step("leak", "command", "echo token={{ sec.stdout | trim }}"),
    ]
    summary, collect = run(steps, tmp_path, variables={"pw": "hunter2"})
    results = by_step(summary)
    assert results["use"].status == "changed"  # the real value was registered
    assert "hunter2" not in repr(collect.events)  # nowhere: not even in a later step's output
    assert results["secret"].stdout == "********"
    assert results["leak"].stdout == "token=********\n"
    assert results["use"].argv == ("test", "********", "=", "********")


def test_secret_vars_are_masked_everywhere(tmp_path: Path) -> None:
    steps = [step("show", "command", "echo the password is {{ db_password }}")]
    summary, collect = run(
        steps, tmp_path, variables={"db_password": "s3cr3t-pw"}, secrets=["s3cr3t-pw"]
    )
    assert "s3cr3t-pw" not in repr(collect.events)
    assert "s3cr3t-pw" not in repr(summary.results)
    assert summary.results[0].stdout == "the password is ********\n"


def test_a_raising_reporter_is_disabled_not_fatal(tmp_path: Path) -> None:
    class Broken:
        def handle(self, event: Event) -> None:
            if event.kind == "step_end":
                raise RuntimeError("boom")

        def close(self) -> None:
            pass

    summary, collect = run(
        [step("a", "command", "true"), step("b", "command", "true")], tmp_path, reporters=[Broken()]
    )
    assert [r.status for r in summary.results] == ["changed", "changed"]
    warnings = [e for e in collect.events if isinstance(e, Notice)]
    assert len(warnings) == 1
    assert "Broken" in warnings[0].message
    assert "boom" in warnings[0].message


def test_service_start_register_and_stop_with_port_fallback(tmp_path: Path) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    try:
        spec = {
            "name": "web",
            "command": f"{sys.executable} -m http.server {{{{ port }}}} --bind 127.0.0.1",
            "port": taken,
            "ready": {"http": "http://127.0.0.1:{{ port }}/"},
        }
        steps = [
            step("serve", "service", spec, register="web"),
            step("get", "http", {"url": "http://127.0.0.1:{{ web.port }}/", "status": 200}),
        ]
        summary, collect = run(steps, tmp_path)
    finally:
        squatter.close()
    results = by_step(summary)
    assert results["serve"].status == "ok"  # a run-scoped service changes no state
    port = results["serve"].registered["port"]
    assert port != taken
    assert results["get"].status == "ok"
    kinds = [e.kind for e in collect.events]
    assert kinds.index("service_start") < kinds.index("service_stop") < kinds.index("run_end")
    pid = results["serve"].registered["pid"]
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


# what every run-in-a-child script starts with: a stub provider, the output folder argv[1]
SCRIPT_HEAD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from labtools.core.errors import Interrupted, Location
    from labtools.core.model import Host, HostPlan, Lab, Plan, Step
    from labtools.effects.runner import run_plan

    class P:
        name = "stub"
        has_minikube = False
        def env(self, host): return {}

    out = Path(sys.argv[1])
    loc = Location("t.yml", 1)
    """
)

SIGINT_SCRIPT = SCRIPT_HEAD + textwrap.dedent(
    """
    script = f"sleep 60 & echo $! >> {out}/pids; sleep 60 & echo $! >> {out}/pids; wait"
    steps = (
        Step("serve", "setup", "service", {"command": "sleep 60", "name": "svc"}, loc),
        Step("block", "setup", "command", ["sh", "-c", script], loc),
    )
    lab = Lab("t", "t.yml", phases={"setup": steps})
    plan = Plan(lab, ("setup",), (HostPlan(Host("h", "stub", {}), {}, steps),))
    class Pids:
        def handle(self, event):
            if event.kind == "service_start":
                (out / "pids").open("a").write(f"{event.pid}\\n")
        def close(self): pass
    from labtools.report.journal import JournalReporter
    from labtools.report.junit import JUnitReporter
    reporters = [Pids(), JournalReporter(out), JUnitReporter(out / "steps.junit.xml")]
    try:
        run_plan(
            plan, {"stub": P()}, reporters=reporters, run_dir=out, templates_dir=None,
            verbosity=int(sys.argv[2]),
        )
    except Interrupted as exc:
        print("INTERRUPTED", exc.exit_code, exc.message)
        sys.exit(exc.exit_code)
    """
)


@pytest.mark.parametrize(
    ("sig", "verbosity"),
    [(signal.SIGINT, 0), (signal.SIGTERM, 0), (signal.SIGHUP, 0), (signal.SIGINT, 2)],
    ids=["ctrl-c", "sigterm", "sighup", "ctrl-c-live-output"],  # -vv: output passed on live (sh)
)
def test_signal_to_the_run_leaves_nothing_alive(
    sig: signal.Signals, verbosity: int, tmp_path: Path
) -> None:
    script = tmp_path / "run.py"
    script.write_text(SIGINT_SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(verbosity)],
        stdout=subprocess.PIPE,
        text=True,
    )
    pids_file = tmp_path / "pids"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if pids_file.exists() and len(pids_file.read_text().split()) >= 3:
            break
        time.sleep(0.05)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 3
    child.send_signal(sig)
    out, _ = child.communicate(timeout=20)
    assert child.returncode == 130
    # one message, naming what was stopped (issue 10, defect 7)
    assert out.count("interrupted") == 1, out
    assert "INTERRUPTED 130 interrupted during 'block' on h" in out
    time.sleep(0.1)
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    # the interrupted step is in the journal (before run_end) and in JUnit, as an error
    records = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    kinds = [(r["kind"], r.get("step")) for r in records]
    assert kinds.index(("step_end", "block")) < kinds.index(("run_end", None))
    end = next(r for r in records if (r["kind"], r.get("step")) == ("step_end", "block"))
    assert (end["result"]["status"], end["result"]["interrupted"]) == ("failed", True)
    assert records[-1]["interrupted"] is True
    suite = ET.parse(tmp_path / "steps.junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("2", "1", "0")
    case = next(c for c in suite.iter("testcase") if c.get("name") == "block")
    error = case.find("error")
    assert error is not None
    assert error.get("type") == "interrupted"


@pytest.mark.parametrize(
    ("spec", "failed_when", "says"),
    [
        # issue 10, defect 3: the cause, not only the expression
        (
            "sh -c 'echo connection refused >&2; exit 1'",
            "result.rc != 0",
            "failed_when: result.rc != 0 (exit code 1; stderr: connection refused)",
        ),
        (
            "no-such-binary-here arg",
            "result.rc != 0 and 'already exists' not in result.stderr",
            "(command not found: no-such-binary-here",
        ),
        ("echo bad", "'bad' in result.stdout", "failed_when: 'bad' in result.stdout"),
    ],
)
def test_failed_when_failure_names_its_cause(
    tmp_path: Path, spec: str, failed_when: str, says: str
) -> None:
    summary, _ = run([step("s", "command", spec, failed_when=failed_when)], tmp_path)
    result = by_step(summary)["s"]
    assert result.status == "failed"
    assert says in result.message


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("sh -c 'exit 3'", 1),
        ("no-such-binary-here", 3),
    ],
)
def test_a_failure_knows_the_exit_code_it_means(tmp_path: Path, spec: str, code: int) -> None:
    summary, _ = run([step("s", "command", spec)], tmp_path)
    assert by_step(summary)["s"].exit_code == code


def test_a_service_failure_means_exit_4(tmp_path: Path) -> None:
    spec = {"command": "sh -c 'exit 1'", "name": "svc", "ready": {"tcp": 1}}
    summary, _ = run([step("s", "service", spec)], tmp_path)
    assert (by_step(summary)["s"].status, by_step(summary)["s"].exit_code) == ("failed", 4)


def test_journal_of_a_run_is_valid_json(tmp_path: Path) -> None:
    from labtools.report.journal import JournalReporter

    run([step("a", "command", "echo hi")], tmp_path, reporters=[JournalReporter(tmp_path)])
    records = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "run_start"
    assert kinds[-1] == "run_end"
    end = next(r for r in records if r["kind"] == "step_end")
    assert end["result"]["stdout"] == "hi\n"
    assert os.path.getsize(tmp_path / "journal.jsonl") > 0


def test_cluster_op_done_although_the_probe_exits_non_zero(tmp_path: Path) -> None:
    class Absent(StubProvider):
        def cluster(self, host: Host, op: str) -> ClusterOp:
            # like `kubectl get namespace X` answering NotFound: the delete is already done
            probe = ("sh", "-c", "echo NotFound >&2; exit 1")
            return ClusterOp(op, probe, lambda out: "NotFound" in out.stderr, ("false",))

    s = step("delete", "cluster", "delete")
    lab = Lab(name="t", path="t.yml", phases={"setup": (s,)})
    plans = (HostPlan(Host("h", "stub", {}), {}, (s,)),)
    summary = run_plan(
        Plan(lab, ("setup",), plans),
        {"stub": Absent()},
        reporters=[],
        run_dir=tmp_path,
        templates_dir=None,
    )
    assert (summary.results[0].status, summary.results[0].rc) == ("ok", 0)


def test_http_sends_headers_and_a_json_body(tmp_path: Path) -> None:
    import http.server
    import threading

    seen: dict[str, Any] = {}

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            seen.update(body=self.rfile.read(length).decode(), headers=dict(self.headers))
            self.send_response(201)
            self.end_headers()
            self.wfile.write(b"created")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        spec = {
            "url": f"http://127.0.0.1:{server.server_port}/items",
            "headers": {"X-Lab": "{{ lab }}"},
            "body": {"name": "{{ lab }}"},
            "status": 201,
            "contains": "created",
        }
        summary, _ = run([step("post", "http", spec)], tmp_path, variables={"lab": "basics"})
    finally:
        server.shutdown()
        server.server_close()
    assert summary.results[0].status == "ok", summary.results[0].message
    assert json.loads(seen["body"]) == {"name": "basics"}
    assert seen["headers"]["X-Lab"] == "basics"
    assert seen["headers"]["Content-Type"] == "application/json"


def test_an_http_value_reaches_the_server_encoded_in_its_path(tmp_path: Path) -> None:
    # before: a value with a space or a newline made http.client raise InvalidURL (not an
    # OSError), which escaped the step as a traceback; the URL is now percent-encoded
    import http.server
    import threading

    paths: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/pods/{{{{ name }}}}"
        value = "a b\r\nX-Injected: 1 ü"
        summary, _ = run([step("get", "http", url)], tmp_path, variables={"name": value})
    finally:
        server.shutdown()
        server.server_close()
    assert summary.results[0].status == "ok", summary.results[0].message
    assert paths == ["/pods/a%20b%0D%0AX-Injected:%201%20%C3%BC"]


def test_an_answer_that_is_not_http_and_a_bad_port_fail_the_step(tmp_path: Path) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def garbage() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.close()

    thread = threading.Thread(target=garbage, daemon=True)
    thread.start()
    try:
        steps = [
            step("not http", "http", f"http://127.0.0.1:{port}/", ignore_errors=True),
            step("bad port", "http", "http://127.0.0.1:notaport/", ignore_errors=True),
        ]
        summary, _ = run(steps, tmp_path)
    finally:
        listener.close()
    first, second = summary.results
    assert (first.status, second.status) == ("failed", "failed")
    assert "SSH-2.0" in first.message or "status line" in first.message.lower()
    assert "nonnumeric port" in second.message


@pytest.mark.parametrize(
    ("retries", "delay", "first", "count", "total"),
    [
        (60, 2.0, (0.2, 0.4, 0.8, 1.6, 2.0, 2.0), 63, 121.0),  # never sooner than 60 x 2 s
        (3, 5.0, (0.2, 0.4, 0.8, 1.6, 3.2, 5.0), 7, 16.2),  # more looks, same patience
        (3, 0.2, (0.2, 0.2, 0.2), 3, 0.6),  # a delay under 0.2 s: no backoff
        (2, 0.01, (0.01, 0.01), 2, 0.02),
        (5, 0.0, (0.0,) * 5, 5, 0.0),  # delay 0: still every retry
        (0, 2.0, (), 0, 0.0),
    ],
)
def test_until_waits_back_off_up_to_the_delay(
    retries: int, delay: float, first: tuple[float, ...], count: int, total: float
) -> None:
    waits = until_waits(retries, delay)
    assert waits[: len(first)] == pytest.approx(first)
    assert len(waits) == count
    assert sum(waits) == pytest.approx(total)
    assert sum(waits) >= retries * delay - 1e-9


def test_until_first_retry_does_not_wait_the_whole_delay(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = f"echo x >> {counter}; wc -l < {counter}"
    until = "result.stdout | int >= 2"
    s = step("poll", "command", ["sh", "-c", script], until=until, retries=3, delay=120)
    summary, collect = run([s], tmp_path)
    (result,) = summary.results
    assert (result.status, result.attempts) == ("changed", 2)
    progress = [e.message for e in collect.events if isinstance(e, StepProgress)]
    assert progress == ["attempt 2/13"]  # 0.2, 0.4, ... 102.4, 120, 120: >= 3 x 120 s
    assert result.duration < 120  # it retried after 0.2 s, not after the 120 s delay


def test_kubectl_diff_exit_1_is_ok_and_2_fails(tmp_path: Path) -> None:
    class DiffProvider(StubProvider):
        def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
            # kubectl diff's contract: 0 no differences, 1 differences, >1 an error
            return ("sh", "-c", f"cat >/dev/null; echo diffed; exit {host.vars['rc']}")

    (tmp_path / "cm.yaml.j2").write_text("kind: ConfigMap\n")
    diff = step("diff", "manifest", {"template": "cm.yaml.j2", "diff": True})
    lab = Lab(name="t", path="t.yml", phases={"setup": (diff,)})
    plans = tuple(HostPlan(Host(f"rc{rc}", "stub", {"rc": rc}), {}, (diff,)) for rc in (0, 1, 2))
    summary = run_plan(
        Plan(lab=lab, phases=("setup",), hosts=plans),
        {"stub": DiffProvider()},
        reporters=[],
        run_dir=tmp_path,
        templates_dir=tmp_path,
    )
    results = {r.host: (r.status, r.rc, r.message) for r in summary.results}
    assert results == {
        "rc0": ("ok", 0, ""),
        "rc1": ("ok", 1, ""),
        "rc2": ("failed", 2, "exit code 2"),
    }


HOSTS_SIGINT_SCRIPT = SCRIPT_HEAD + textwrap.dedent(
    """
    import json
    steps = (
        Step("quick", "setup", "command", ["true"], loc),
        Step("block", "setup", "command", ["sh", "-c", f"touch {out}/$0.started; sleep 60"], loc),
        Step("after", "deploy", "command", ["true"], loc),
    )
    steps_of = lambda h: tuple(  # noqa: E731
        Step(s.name, s.phase, s.action, [*s.spec, h] if s.name == "block" else s.spec, loc)
        for s in steps
    )
    lab = Lab("t", "t.yml", phases={"setup": steps[:2], "deploy": steps[2:]})
    names = [f"lab-{i:02d}" for i in range(1, 6)]
    plan = Plan(lab, ("setup", "deploy"),
                tuple(HostPlan(Host(h, "stub", {}), {}, steps_of(h)) for h in names))

    class Ends:
        def handle(self, event):
            if event.kind == "run_end":
                print("FAILURES", json.dumps([[f.host, f.interrupted] for f in event.failures]))
                print("UNFINISHED", json.dumps(list(event.unfinished)))
        def close(self): pass

    def diagnose(host_plan, provider, result):
        (out / f"diagnosed-{host_plan.host.name}").touch()
        raise AssertionError("no diagnostics for an interrupted step")

    try:
        run_plan(plan, {"stub": P()}, reporters=[Ends()], run_dir=out, templates_dir=None,
                 forks=3, on_failure=diagnose)
    except Interrupted as exc:
        print("INTERRUPTED", exc.exit_code, exc.message)
        sys.exit(exc.exit_code)
    """
)


def test_ctrl_c_in_a_workshop_names_what_it_stopped_and_diagnoses_nobody(tmp_path: Path) -> None:
    import json

    from labtools.core.results import HostFailure
    from labtools.report.outcome import outcome_line

    script = tmp_path / "run.py"
    script.write_text(HOSTS_SIGINT_SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    while len(list(tmp_path.glob("*.started"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(tmp_path.glob("*.started"))) == 3  # forks=3: lab-01..03 block, 04-05 queue
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=20)
    assert child.returncode == 130, out
    assert "INTERRUPTED 130 interrupted during 'block' on lab-[01:03]; every process" in out
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    failures = json.loads(lines["FAILURES"])
    assert failures == [["lab-01", True], ["lab-02", True], ["lab-03", True]]
    assert json.loads(lines["UNFINISHED"]) == ["lab-04", "lab-05"]  # queued: never started it
    assert not list(tmp_path.glob("diagnosed-*"))  # the user stopped them: nothing to diagnose
    hosts = [f"lab-{i:02d}" for i in range(1, 6)]
    stopped = [
        HostFailure(h, "setup", "block", "interrupted", interrupted=True) for h, _ in failures
    ]
    assert outcome_line(hosts, stopped, ["lab-04", "lab-05"]) == (
        "0/5 ready; lab-[01:03] interrupted at 'block'; lab-04, lab-05 stopped before the end"
    )


SQUAT = """
import socket, sys, time
sock = socket.socket()
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen()
print(flush=True)
time.sleep(30)
"""


def test_a_service_whose_port_is_taken_as_it_starts_moves_to_another(tmp_path: Path) -> None:
    # between the run's look (free) and the bind, another process took the port: as `port:`
    # falls back to a free port when taken, the start is made once more on another one
    squat = tmp_path / "squat.py"
    squat.write_text(SQUAT)
    first = tmp_path / "first-try"
    pids = tmp_path / "squatter.pid"
    wanted = free_port()
    script = (
        f"if mkdir {first} 2>/dev/null; then setsid {sys.executable} {squat} {{{{ port }}}} "
        f"> {tmp_path}/squatting & echo $! > {pids}; "
        f"while [ ! -s {tmp_path}/squatting ]; do sleep 0.05; done; fi; "
        f"exec {sys.executable} -m http.server {{{{ port }}}} --bind 127.0.0.1"
    )
    spec = {"name": "web", "command": ["sh", "-c", script], "port": wanted,
            "ready": {"tcp": "{{ port }}"}}  # fmt: skip
    try:
        summary, _ = run([step("serve", "service", spec, register="web")], tmp_path)
    finally:
        if pids.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pids.read_text()), signal.SIGKILL)
    result = by_step(summary)["serve"]
    assert result.status == "ok", result.message
    assert first.is_dir()  # the first start met the squatter
    assert result.registered["port"] != wanted


@pytest.mark.parametrize(("hosts", "forks", "together"), [(12, 4, 3), (12, 2, 2), (30, 10, 5)])
def test_checks_sessions_run_at_once_up_to_forks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hosts: int, forks: int, together: int
) -> None:
    """N hosts share sqrt(N) checks sessions, and every session can run at the same time (up
    to --forks): the hosts of a session wait for each other outside the pool, so a session's
    hosts never hold the pool's threads while another session's hosts queue behind them."""
    import threading

    from labtools.core.actions import ChecksCall, RunCommand
    from labtools.core.model import Command
    from labtools.core.results import Output
    from labtools.effects import checks, runner

    def build(step: Step, variables: Mapping[str, Any], ctx: Any) -> RunCommand:
        call = ChecksCall(str(tmp_path), "t", ("checks.py",), "inventory.yml", ctx.host.name, "{}")
        return RunCommand(Command(("true",)), readonly=True, checks=call)

    lock = threading.Lock()
    running, most, sizes = [0], [0], []

    def run_together(calls: Mapping[str, RunCommand], run_one: Any) -> dict[str, Output]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            sizes.append(len(calls))
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return {host: Output(rc=0) for host in calls}

    monkeypatch.setattr(runner.actions, "build", build)
    monkeypatch.setattr(checks, "run_together", run_together)
    verify = step("checks", "verify", "t", phase="setup")
    lab = Lab(name="t", path="t.yml", phases={"setup": (verify,)})
    names = [f"lab-{i:02d}" for i in range(1, hosts + 1)]
    plans = tuple(HostPlan(Host(h, "stub", {}), {}, (verify,)) for h in names)
    summary = run_plan(
        Plan(lab=lab, phases=("setup",), hosts=plans),
        {"stub": StubProvider()},
        reporters=[],
        run_dir=tmp_path,
        templates_dir=None,
        forks=forks,
    )
    assert [r.status for r in summary.results] == ["ok"] * hosts
    assert sum(sizes) == hosts
    assert max(sizes) <= -(-hosts // together) + 1
    assert most[0] == together
