"""process.py with real processes: exit codes, output, timeouts that kill groups, services."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from labtools.core.errors import (
    CommandTooLongError,
    MissingBinaryError,
    NulInCommandError,
    ServiceError,
)
from labtools.core.model import Command
from labtools.effects.process import (
    OutputCallback,
    ProcessRegistry,
    Service,
    check_length,
    choose_port,
    free_port,
    port_is_free,
    run,
)


def alive(pid: int) -> bool:
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("argv", "stdin", "rc", "stdout", "stderr"),
    [
        (("true",), None, 0, "", ""),
        (("sh", "-c", "exit 3"), None, 3, "", ""),
        (("sh", "-c", "echo out; echo err >&2"), None, 0, "out\n", "err\n"),
        (("cat",), "a b; $(rm -rf /)\n", 0, "a b; $(rm -rf /)\n", ""),
        (("echo", "it's; $HOME"), None, 0, "it's; $HOME\n", ""),
    ],
)
def test_run_returns_rc_and_output(
    argv: tuple[str, ...], stdin: str | None, rc: int, stdout: str, stderr: str
) -> None:
    result = run(Command(argv=argv, stdin=stdin))
    assert (result.rc, result.stdout, result.stderr) == (rc, stdout, stderr)
    assert not result.timed_out


def test_run_passes_env_and_streams_lines() -> None:
    lines: list[tuple[str, str]] = []
    command = Command(("sh", "-c", 'echo "$LAB_X"; echo two >&2'), env={"LAB_X": "one"})
    result = run(command, on_output=lambda stream, line: lines.append((stream, line)))
    assert result.stdout == "one\n"
    assert sorted(lines) == [("stderr", "two"), ("stdout", "one")]


def _live(stream: str, line: str) -> None:
    """An on_output callback: the command's lines are passed on live (the sh launch path)."""


# every behaviour below holds on both launch paths: nobody watching (vfork) and live (sh)
PATHS = pytest.mark.parametrize("on_output", [None, _live], ids=["quiet", "live"])


@PATHS
def test_timeout_kills_the_whole_process_group(
    tmp_path: Path, on_output: OutputCallback | None
) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}; sleep 60 & echo $! >> {pids}; wait"
    started = time.monotonic()
    result = run(Command(("sh", "-c", script), timeout=0.5), on_output=on_output)
    assert result.rc == 124
    assert result.timed_out
    assert time.monotonic() - started < 5
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    assert not any(alive(pid) for pid in children)


def test_missing_binary_names_it_with_a_hint() -> None:
    with pytest.raises(MissingBinaryError) as info:
        run(Command(("labtools-no-such-binary", "x")))
    assert "labtools-no-such-binary" in info.value.message
    assert info.value.hint


def test_missing_kubectl_like_binary_hint_is_specific(tmp_path: Path) -> None:
    with pytest.raises(MissingBinaryError) as info:
        run(Command((str(tmp_path / "minikube"),)))
    assert "minikube.sigs.k8s.io" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (("echo", "y" * 200_000), None, "its argument 1 has 200,000 bytes"),
        (("echo", *["y" * 100_000] * 30), None, "ARG_MAX"),
        (("echo", "y"), {"BIG": "y" * 100_000}, None),
        (("echo", "y"), {"BIG": "y" * 140_000}, "its variable BIG has 140,004 bytes"),
        (("echo", "y"), {f"V{i}": "y" * 100_000 for i in range(30)}, "ARG_MAX"),
    ],
    ids=["one-argument", "all-arguments", "a-variable", "one-variable", "environment"],
)
def test_a_command_too_long_for_exec_is_named_not_a_missing_binary(
    argv: tuple[str, ...], env: dict[str, str] | None, says: str | None
) -> None:
    # before the check, exec's E2BIG read "cannot run echo ... install `echo`" (exit 3)
    if says is None:
        assert run(Command(argv, env=env or {})).rc == 0
        return
    with pytest.raises(CommandTooLongError) as info:
        run(Command(argv, env=env or {}))
    assert says in info.value.message
    assert "stdin:" in (info.value.hint or "")
    assert info.value.exit_code == 1
    with pytest.raises(CommandTooLongError):
        Service("big").start(Command(argv, env=env or {}))


def test_the_length_check_matches_what_exec_takes() -> None:
    limit = 32 * 4096 - 1  # bytes of one argument, its NUL excluded
    check_length(("echo", "y" * limit))
    assert run(Command(("echo", "y" * limit))).rc == 0
    with pytest.raises(CommandTooLongError):
        check_length(("echo", "y" * (limit + 1)))


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (Command(("echo", "a\x00b")), "its argument 1 holds a NUL"),
        (Command(("echo", "ok"), env={"X": "a\x00b"}), "its variable X holds a NUL"),
    ],
    ids=["argument", "variable"],
)
def test_a_nul_in_a_command_is_named_not_a_missing_binary(command: Command, says: str) -> None:
    # found by tests/unit/test_render_properties.py (a value with NUL stays one argument): exec
    # cannot carry it, and it read "cannot run echo: ValueError: embedded null byte; install
    # `echo`" (a missing binary, exit 3)
    with pytest.raises(NulInCommandError) as info:
        run(command)
    assert says in info.value.message
    assert info.value.exit_code == 1
    with pytest.raises(NulInCommandError):
        Service("nul").start(command)


def _http_server_argv(port: int) -> tuple[str, ...]:
    return (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1")


def test_service_ready_then_stop_kills_it() -> None:
    registry = ProcessRegistry()
    port = free_port()
    service = Service("web", registry=registry)
    service.start(
        Command(_http_server_argv(port)), ready_http=f"http://127.0.0.1:{port}/", port=port
    )
    assert service.pid is not None
    assert alive(service.pid)
    assert registry.services() == [service]
    registry.stop_all()
    assert not alive(service.pid)
    assert port_is_free(port)


def test_service_exiting_early_reports_its_output() -> None:
    service = Service("broken", registry=ProcessRegistry())
    with pytest.raises(ServiceError) as info:
        service.start(Command(("sh", "-c", "echo boom >&2; exit 1")), ready_tcp=free_port())
    assert "exited before it was ready" in info.value.message
    assert "boom" in info.value.message


def test_service_on_a_taken_port_gives_a_hint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        service = Service("web", registry=ProcessRegistry())
        with pytest.raises(ServiceError) as info:
            # the probe must not see the squatter: probe a different, closed port
            service.start(Command(_http_server_argv(port)), ready_tcp=free_port(), port=port)
    assert "in use" in (info.value.hint or "")


def test_choose_port_prefers_a_free_port_and_falls_back() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        taken = sock.getsockname()[1]
        assert not port_is_free(taken)
        fallback = choose_port(taken)
        assert fallback != taken
        assert port_is_free(fallback)
    free = free_port()
    assert choose_port(free) == free


@PATHS
def test_registry_stop_all_ends_running_groups(on_output: OutputCallback | None) -> None:
    registry = ProcessRegistry()
    holder: dict[str, object] = {}

    def target() -> None:
        command = Command(("sleep", "30"), timeout=60)
        holder["result"] = run(command, registry=registry, on_output=on_output)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 5
    while not registry.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    (pgid,) = registry.running()
    registry.stop_all(grace=1.0)
    thread.join(5)
    assert not thread.is_alive()
    assert not alive(pgid)
    assert os.getpgid(0) != pgid


@pytest.mark.parametrize(("on_output", "lines"), [(None, 200_000), (_live, 20_000)])
def test_output_is_read_whole_and_undecodable_bytes_are_replaced(
    on_output: OutputCallback | None, lines: int
) -> None:
    # many lines on stdout and bytes that are not UTF-8 on stderr
    script = f"seq 1 {lines}; printf 'bad \\377 byte\\n' >&2"
    result = run(Command(("sh", "-c", script)), on_output=on_output)
    assert result.stdout == "".join(f"{i}\n" for i in range(1, lines + 1))
    assert result.stderr == "bad \ufffd byte\n"


@PATHS
def test_a_command_without_stdin_reads_end_of_file(on_output: OutputCallback | None) -> None:
    # `cat` with no stdin given must see EOF at once, not the runner's own stdin
    result = run(Command(("cat",), timeout=30), on_output=on_output)
    assert (result.rc, result.stdout, result.timed_out) == (0, "", False)


@PATHS
def test_a_big_stdin_reaches_the_command_whole(on_output: OutputCallback | None) -> None:
    # 4 MiB, far more than a pipe holds: given whole, the command reads it to its end
    text = "".join(f"line {i} é\n" for i in range(400_000))
    result = run(Command(("wc", "-c"), stdin=text, timeout=60), on_output=on_output)
    assert (result.rc, result.stdout.strip()) == (0, str(len(text.encode())))


@PATHS
def test_a_command_runs_in_a_session_of_its_own(on_output: OutputCallback | None) -> None:
    seen: dict[str, int] = {}

    def started(pid: int) -> None:
        seen.update(sid=os.getsid(pid), pgid=os.getpgid(pid), pid=pid)

    run(Command(("sleep", "0.3")), on_output=on_output, on_start=started)
    assert seen["sid"] == seen["pgid"] == seen["pid"]
    assert seen["sid"] != os.getsid(0)


def test_a_quiet_command_starts_no_thread() -> None:
    # the vfork path has no pipe to read and no thread to start: the watchdog is the only one
    run(Command(("true",)))
    before = set(threading.enumerate())
    during: list[set[threading.Thread]] = []
    run(Command(("sleep", "0.2")), on_start=lambda pid: during.append(set(threading.enumerate())))
    assert during == [before]
    assert set(threading.enumerate()) == before


@PATHS
def test_a_file_exec_refuses_is_named(tmp_path: Path, on_output: OutputCallback | None) -> None:
    tool = tmp_path / "labtools-not-a-program"
    tool.write_bytes(b"\x7fELF not really")
    tool.chmod(0o755)
    with pytest.raises(MissingBinaryError) as info:
        run(Command((str(tool),)), on_output=on_output)
    assert f"cannot run {tool}: " in info.value.message
    assert "Exec format error" in info.value.message


def test_a_missing_working_directory_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(MissingBinaryError) as info:
        run(Command(("true",), cwd=str(gone)))
    assert f"cannot run true: No such file or directory: {gone}" in info.value.message


def test_live_output_and_captured_output_agree() -> None:
    command = Command(("sh", "-c", "printf 'a\\nb\\n'; printf 'c' >&2"))
    lines: list[tuple[str, str]] = []
    live = run(command, on_output=lambda stream, line: lines.append((stream, line)))
    quiet = run(command)
    assert (live.stdout, live.stderr) == (quiet.stdout, quiet.stderr) == ("a\nb\n", "c")
    assert lines.count(("stdout", "a")) == 1


def test_runs_leave_no_descriptor_open() -> None:
    run(Command(("true",)))  # the shared /dev/null descriptor is opened once, here
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(30):
        run(Command(("sh", "-c", "echo out; echo err >&2")))
        run(Command(("sh", "-c", "echo live"), timeout=10), on_output=lambda s, line: None)
    assert set(os.listdir("/proc/self/fd")) <= before


@PATHS
def test_a_binary_removed_after_its_first_run_is_reported(
    tmp_path: Path, on_output: OutputCallback | None
) -> None:
    tool = tmp_path / "labtools-vanishing-tool"
    tool.write_text("#!/bin/sh\necho here\n")
    tool.chmod(0o755)
    assert run(Command((str(tool),)), on_output=on_output).stdout == "here\n"
    tool.unlink()
    with pytest.raises(MissingBinaryError) as info:
        run(Command((str(tool),)), on_output=on_output)
    assert str(tool) in info.value.message
    assert "No such file" in info.value.message


@PATHS
def test_what_a_command_leaves_running_is_ended_with_the_run(
    tmp_path: Path, on_output: OutputCallback | None
) -> None:
    registry = ProcessRegistry()
    pid_file = tmp_path / "pid"
    command = Command(("sh", "-c", f"sleep 60 > /dev/null 2>&1 & echo $! > {pid_file}"))
    result = run(command, registry=registry, on_output=on_output)
    assert result.rc == 0
    child = int(pid_file.read_text())
    assert alive(child)
    assert registry.running()  # its group is still tracked ...
    registry.stop_all(grace=1.0)
    assert not alive(child)  # ... so the end of the run ends it


def test_an_empty_group_is_forgotten() -> None:
    registry = ProcessRegistry()
    run(Command(("true",)), registry=registry)
    assert registry.running() == []


def test_a_group_started_after_an_interrupt_is_ended_at_once() -> None:
    # Ctrl-C while a command is starting: stop_all has already looked at the groups
    import subprocess

    registry = ProcessRegistry()
    registry.stop_all()
    registry.interrupted.set()
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        registry.add(child.pid)
        assert child.wait(timeout=5) == -15  # SIGTERM
    finally:
        child.kill()
        child.wait()


def test_a_service_is_not_ready_on_an_answer_from_another_process() -> None:
    # two runs found the port free; the other one bound it first: its answer is not ours
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        registry = ProcessRegistry()
        service = Service("web", registry=registry)
        try:
            with pytest.raises(ServiceError) as info:
                service.start(Command(_http_server_argv(port)), ready_tcp=port, port=port)
        finally:
            registry.stop_all()
    assert "exited before it was ready" in info.value.message
    assert "in use" in (info.value.hint or "")


def test_a_service_is_ready_when_its_own_process_answers() -> None:
    registry = ProcessRegistry()
    port = free_port()
    service = Service("web", registry=registry)
    try:
        service.start(Command(_http_server_argv(port)), ready_tcp=port, port=port)
        assert service.running
    finally:
        registry.stop_all()


def test_stop_all_kills_services_that_ignore_sigterm(tmp_path: Path) -> None:
    # both get one TERM, then a KILL after the grace period: nothing outlives the run
    registry = ProcessRegistry()
    services = []
    for name in ("first", "second"):
        port = free_port()
        script = f"trap '' TERM; exec {sys.executable} -m http.server {port} --bind 127.0.0.1"
        service = Service(name, registry=registry)
        service.start(Command(("sh", "-c", script)), ready_tcp=port, port=port)
        services.append(service)
    stopped = registry.stop_all(grace=0.5)
    assert [s.name for s in stopped] == ["second", "first"]
    assert not any(s.pid is not None and alive(s.pid) for s in services)
    assert registry.running() == []
