"""Effects: the only module that starts processes (argv, never a shell string).

Every process runs in its own session (so its own process group); a timeout, ``stop()`` or
``ProcessRegistry.stop_all()`` ends the whole group with SIGTERM, then SIGKILL after a grace period.

Two launch paths, chosen by what a command needs (figures: ``bench/bench_runner.py``, and
docs/performance.md):

- **Nobody watches the output** (the default; every step below ``-vv``): ``subprocess.Popen``,
  which starts the child with vfork + exec in C. stdout and stderr go into two in-memory files
  read once it ends, stdin is /dev/null or an in-memory file holding the step's ``stdin:`` (as
  bash does for a here-document), so there is no pipe, no thread and no handshake: the cost is
  the exec, ~0.5 ms over a bare ``subprocess.run`` per step.
- **Live output** (``on_output``: ``-vv``, minikube's progress events) and background services:
  ``sh``, whose line callbacks are what those need. sh forks the whole interpreter (no vfork), runs
  Python in the child until exec while the parent waits on its start-up pipe, and starts two or
  three threads per command: ~3 ms of a tiny process's CPU, more as the heap grows. It is kept
  where it earns that.

Interactive commands (the user's terminal) are ``terminal.run_in_terminal``'s.
Tuning notes for the sh path (sh 2.4): a ``_out`` callback without ``_in`` makes sh feed stdin from
a Queue polled every 100 ms, and ``_timeout`` makes sh's watchdog thread poll every 100 ms; both
add ~100 ms per command, so stdin is always given explicitly and timeouts use our own timer.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from labtools.core.errors import (
    CommandTooLongError,
    Interrupted,
    MissingBinaryError,
    NulInCommandError,
    ServiceError,
)
from labtools.core.messages import Msg, msg
from labtools.core.model import Command
from labtools.core.results import Output

OutputCallback = Callable[[str, str], None]  # (stream "stdout" | "stderr", line without newline)

TIMEOUT_RC = 124  # like coreutils timeout(1)
GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL
TAIL_LINES = 20
_OK_CODES = tuple(range(-64, 256))  # never let sh raise for an exit code; the runner decides

INSTALL_HINTS: Mapping[str, Msg] = {
    "kubectl": msg(
        "install kubectl: {url} (or use `minikube kubectl --`)",
        url="https://kubernetes.io/docs/tasks/tools/",
    ),
    "minikube": msg("install minikube: {url}", url="https://minikube.sigs.k8s.io/docs/start/"),
    "docker": msg("install Docker: {url}", url="https://docs.docker.com/engine/install/"),
    "curl": msg("install {name} (Debian/Ubuntu: `apt-get install {name}`)", name="curl"),
    "git": msg("install {name} (Debian/Ubuntu: `apt-get install {name}`)", name="git"),
}
INTERRUPTED = msg("the run was interrupted")
STOPPED = msg("interrupted; every process the run started was stopped")


def _hint_for(binary: str) -> Msg:
    """How to get a missing binary."""
    name = os.path.basename(binary)
    return INSTALL_HINTS.get(name) or msg(
        "install `{name}` or add its directory to PATH", name=name
    )


# Linux's limits on what execve takes (include/uapi/linux/binfmts.h MAX_ARG_STRLEN: 32 pages
# for one string; fs/exec.c counts every argv and environment string with its NUL and pointer
# against the stack limit, ARG_MAX): past them exec fails with E2BIG, which would otherwise
# read as a binary that cannot run.
MAX_ARG_STRLEN = 32 * 4096
_POINTER = 8


def check_length(argv: tuple[str, ...], env: Mapping[str, str] | None = None) -> None:
    """Raise CommandTooLongError when ``argv`` (with ``env``) is more than exec can take, and
    NulInCommandError when a string of it holds a NUL (C strings end there)."""
    environment = os.environ if env is None else env
    _check_nul(argv, environment)
    sizes = [len(arg.encode(errors="surrogateescape")) + 1 for arg in argv]
    variables = {
        key: len(f"{key}={value}".encode(errors="surrogateescape")) + 1
        for key, value in environment.items()
    }
    for index, size in enumerate(sizes):
        if size > MAX_ARG_STRLEN:
            _too_long(msg("its argument {n} has {size} bytes", n=index, size=f"{size - 1:,}"))
    for key, size in variables.items():
        if size > MAX_ARG_STRLEN:
            _too_long(msg("its variable {key} has {size} bytes", key=key, size=f"{size - 1:,}"))
    total = sum(sizes) + sum(variables.values()) + _POINTER * (len(sizes) + len(variables) + 2)
    limit = os.sysconf("SC_ARG_MAX")
    if total > limit:
        raise CommandTooLongError(
            msg(
                "the command is too long to start: its arguments and environment have {size} "
                "bytes, and this system takes at most {limit} (ARG_MAX)",
                size=f"{total:,}",
                limit=f"{limit:,}",
            ),
            hint=_TOO_LONG_HINT,
        )


def _check_nul(argv: tuple[str, ...], env: Mapping[str, str]) -> None:
    """A NUL character cannot be in an argument or a variable: exec would cut the string."""
    where = next((msg("its argument {n}", n=i) for i, a in enumerate(argv) if "\0" in a), None)
    if where is None:
        key = next((k for k, v in env.items() if "\0" in k or "\0" in v), None)
        where = None if key is None else msg("its variable {key}", key=key.replace("\0", "\\0"))
    if where is not None:
        raise NulInCommandError(
            msg("the command cannot start: {what} holds a NUL character (\\0)", what=where),
            hint=msg(
                "a command line cannot carry NUL; pass such data through the step's `stdin:` "
                "or a file under templates/"
            ),
        )


def _too_long(what: Msg) -> None:
    """Raise the error of one string longer than exec takes."""
    raise CommandTooLongError(
        msg(
            "the command is too long to start: {what}, and one string can have at most {limit} "
            "(Linux's MAX_ARG_STRLEN)",
            what=what,
            limit=f"{MAX_ARG_STRLEN - 1:,}",
        ),
        hint=_TOO_LONG_HINT,
    )


_TOO_LONG_HINT = msg(
    "pass a large value through the step's `stdin:` or a file under templates/, not on the "
    "command line"
)


def _command(binary: str) -> Any:
    """An sh.Command for ``binary``, or MissingBinaryError naming it."""
    return _sh_command(_executable(binary))


def _executable(binary: str) -> str:
    """The file ``binary`` names (looked up on PATH), or MissingBinaryError naming it."""
    found = _which(binary, os.environ.get("PATH", ""))
    if found is None:
        raise MissingBinaryError(
            msg("command not found: {binary}", binary=binary), hint=_hint_for(binary)
        )
    return found


@functools.lru_cache(maxsize=64)
def _which(binary: str, path: str) -> str | None:
    """``binary`` looked up on ``path`` once per PATH value (a lookup stats every entry)."""
    return shutil.which(binary, path=path)


@functools.lru_cache(maxsize=64)
def _sh_command(executable: str) -> Any:
    """sh.Command for a file already found (built once: sh inspects it)."""
    import sh

    return sh.Command(executable)


@functools.cache
def _devnull() -> int:
    """A read-only /dev/null descriptor (not inherited) that every command without stdin reads."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


class _Spool:
    """An anonymous in-memory file that a command writes one stream into; read when it ends."""

    def __init__(self) -> None:
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create("labtools-output", os.MFD_CLOEXEC)
        else:  # not Linux: an unlinked temporary file
            with tempfile.TemporaryFile() as handle:
                self.fd = os.dup(handle.fileno())

    def text(self) -> str:
        """Everything written so far, decoded (undecodable bytes replaced)."""
        chunks = []
        offset = 0
        while chunk := os.pread(self.fd, 1 << 20, offset):
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    @classmethod
    def holding(cls, text: str) -> _Spool:
        """A file holding ``text`` (UTF-8), read from its start: a command's stdin."""
        spool = cls()
        data = text.encode("utf-8")
        written = 0
        while written < len(data):
            written += os.pwrite(spool.fd, data[written:], written)
        return spool

    def close(self) -> None:
        """Free the file (once)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _environment(extra: Mapping[str, str]) -> dict[str, str] | None:
    """The parent's environment plus ``extra`` (sh's ``_env`` replaces the whole environment).

    None when there is nothing to add: inheriting is cheaper than copying (~0.4 ms a command).
    """
    if not extra:
        return None
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in extra.items()})
    return env


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group ``pgid``; zombies count as gone."""
    return _members([pgid]).get(pgid, [])


def _members(pgids: Iterable[int]) -> dict[int, list[int]]:
    """The live (non-zombie) pids of those of ``pgids`` that have any: one look at /proc."""
    wanted = set(pgids)
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: fall back on signal 0
        found = {}
        for pgid in wanted:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, 0)
                found[pgid] = [pgid]
        return found
    members: dict[int, list[int]] = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) in wanted:
            members.setdefault(int(fields[2]), []).append(int(entry))
    return members


def _group_exists(pgid: int) -> bool:
    """True while any process (a zombie included) is in group ``pgid``: one syscall."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    kill_groups([pgid], grace)


def kill_groups(pgids: Iterable[int], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM every group at once, then SIGKILL what is left of them after ``grace`` seconds.

    One grace period for all (a run's end stops its services together, not one after the
    other), and the first looks come soon: most commands end within milliseconds of a TERM.
    """
    alive = []
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
        alive.append(pgid)
    deadline = time.monotonic() + grace
    pause = 0.002
    while alive and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
        alive = sorted(_members(alive))
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class Watchdog:
    """One thread for every command's timeout (a Timer thread per command costs ~0.35 ms)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._counter = 0
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, callback: Callable[[], None]) -> int:
        """Call ``callback`` (in the watchdog thread) after ``seconds`` unless cancelled."""
        deadline = time.monotonic() + seconds
        with self._cond:
            self._counter += 1
            # the thread sleeps until the earliest deadline: wake it only when this one is earlier
            # (a wake-up per command is a context switch per command)
            earlier = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, self._counter, callback))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="labtools-watchdog")
                self._thread.daemon = True
                self._thread.start()
            elif earlier:
                self._cond.notify()
            return self._counter

    def cancel(self, token: int) -> None:
        """Forget a deadline."""
        with self._cond:
            self._cancelled.add(token)

    def _due(self) -> list[Callable[[], None]]:
        """Pop the callbacks whose deadline passed; wait for the next one otherwise."""
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    _, token, callback = heapq.heappop(self._heap)
                    if token in self._cancelled:
                        self._cancelled.discard(token)
                    else:
                        due.append(callback)
                if due:
                    return due
                self._cond.wait(self._heap[0][0] - now if self._heap else None)

    def _loop(self) -> None:
        while True:
            for callback in self._due():
                # kill_group waits a grace period: never block other deadlines on it
                threading.Thread(target=callback, daemon=True).start()


WATCHDOG = Watchdog()


class ProcessRegistry:
    """Every process group a run started, so ``stop_all()`` can end them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        self._services: list[Service] = []
        self.stopped: list[Service] = []  # services stop_all ended, in order
        self.interrupted = threading.Event()
        # an interactive command is being given the terminal: a Ctrl-C now was typed for it
        self._handover = threading.RLock()  # RLock: the SIGINT handler takes it in main thread
        self._handing_over = False
        self._missed_interrupt = False
        # the group of the interactive command that owns the terminal now: a SIGINT this process
        # still gets was typed before the handover (Python runs its handler late, in the main
        # thread), since the terminal no longer sends this process what the user types
        self._terminal_owner: int | None = None

    @contextlib.contextmanager
    def handing_over(self) -> Iterator[Callable[[], bool]]:
        """While a command is started and given the terminal; yields "was Ctrl-C typed since?".

        Between the command's start and the moment its group owns the terminal, a Ctrl-C still
        reaches this process; ``stop_all_on_exit`` notes it here instead of ending the run, and
        the caller passes it on to the command.
        """
        with self._handover:
            self._handing_over, self._missed_interrupt = True, False

        def missed() -> bool:
            with self._handover:
                self._handing_over = False
                return self._missed_interrupt

        try:
            yield missed
        finally:
            with self._handover:
                self._handing_over = False

    def interrupt_is_for_the_command(self) -> bool:
        """SIGINT handler: True (and noted, or passed on) when the Ctrl-C was typed for a
        command being given the terminal or owning it; False when it is for the run."""
        with self._handover:
            if self._handing_over:
                self._missed_interrupt = True
                return True
            owner = self._terminal_owner
        if owner is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(owner, signal.SIGINT)
        return True

    def owns_terminal(self, pgid: int | None) -> None:
        """The command's group ``pgid`` is the terminal's foreground group now (None: no more)."""
        with self._handover:
            self._terminal_owner = pgid

    def add(self, pgid: int) -> None:
        """Track a started process group; end it at once when the run was interrupted already.

        A command starts in a worker thread while Ctrl-C is handled in the main thread: when
        ``stop_all`` looked at the groups before this one was added, nobody else would end it
        (and the run would wait for it). ``interrupted`` is set before ``stop_all`` looks.
        """
        with self._lock:
            self._groups.add(pgid)
        if self.interrupted.is_set():
            kill_group(pgid)

    def discard(self, pgid: int) -> None:
        """Forget a process group that has ended."""
        with self._lock:
            self._groups.discard(pgid)

    def add_service(self, service: Service) -> None:
        """Track a background service (stopped by ``stop_all``)."""
        with self._lock:
            self._services.append(service)

    def running(self) -> list[int]:
        """The process groups still tracked."""
        with self._lock:
            return sorted(self._groups)

    def services(self) -> list[Service]:
        """The services started and not stopped yet."""
        with self._lock:
            return [s for s in self._services if s.running]

    def stop_all(self, grace: float = GRACE_SECONDS) -> list[Service]:
        """End every tracked process group (services included); returns the services stopped."""
        stopped = list(reversed(self.services()))
        kill_groups(self.running(), grace)  # the services' groups are tracked too
        for service in stopped:
            service.reap()
        with self._lock:
            self.stopped.extend(stopped)
        return stopped


DEFAULT_REGISTRY = ProcessRegistry()


def run(
    command: Command,
    *,
    on_output: OutputCallback | None = None,
    registry: ProcessRegistry | None = None,
    interactive: bool = False,
    on_start: Callable[[int], None] | None = None,
) -> Output:
    """Run ``command`` to the end (or its timeout: the group is killed, rc 124).

    ``on_start`` is given the command's process group once it runs (to end it early).
    """
    registry = registry or DEFAULT_REGISTRY
    if registry.interrupted.is_set():
        raise Interrupted(INTERRUPTED)
    check_length(command.argv, _environment(command.env))
    executable = _executable(command.argv[0])
    if interactive:
        from labtools.effects.terminal import run_in_terminal

        return run_in_terminal(command, registry)
    if on_output is None:
        return _run_spooled(executable, command, registry, on_start)
    return _run_streamed(_sh_command(executable), command, on_output, registry, on_start)


def _run_spooled(
    executable: str,
    command: Command,
    registry: ProcessRegistry,
    on_start: Callable[[int], None] | None = None,
) -> Output:
    """Run through vfork + exec with stdin, stdout and stderr in in-memory files."""
    out, err = _Spool(), _Spool()
    given = _Spool.holding(command.stdin) if command.stdin else None
    try:
        started = time.perf_counter()
        proc = _spawn(executable, command, given.fd if given else _devnull(), out.fd, err.fd)
        if on_start is not None:
            on_start(proc.pid)
        rc, timed_out = _wait(proc.pid, proc.wait, command, registry)
        return Output(
            rc=rc,
            stdout=out.text(),
            stderr=err.text(),
            duration=time.perf_counter() - started,
            timed_out=timed_out,
            failed=rc != 0,
        )
    finally:
        for spool in (out, err, given):
            if spool is not None:
                spool.close()


class Prestarted:
    """A process started before its command is known, which takes the command as one JSON line
    on stdin (``labtools.verify.warm``): the start-up it shares with the command is done by the
    time ``run`` hands the command over. Its own session from the start, tracked by ``registry``
    (Ctrl-C and the end of the run end it like any command); output into in-memory files."""

    def __init__(
        self, argv: Sequence[str], registry: ProcessRegistry, cwd: str | None = None
    ) -> None:
        self._registry = registry
        self._out, self._err = _Spool(), _Spool()
        read, self._write = os.pipe()  # not inherited by other children (PEP 446)
        try:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=read,
                stdout=self._out.fd,
                stderr=self._err.fd,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError:
            for fd in (read, self._write):
                os.close(fd)
            self._out.close()
            self._err.close()
            raise
        os.close(read)
        registry.add(self._proc.pid)

    @property
    def pid(self) -> int:
        """Its pid (and process group)."""
        return int(self._proc.pid)

    @property
    def alive(self) -> bool:
        """True while it waits for its command."""
        return self._write >= 0 and self._proc.poll() is None

    def run(self, command: Command) -> Output | None:
        """Hand ``command`` over and wait for its end (or timeout) as ``run`` does; None when the
        process is gone before it took the command (the caller starts the command itself)."""
        if self._registry.interrupted.is_set():
            raise Interrupted(INTERRUPTED)
        env = _environment(command.env) or dict(os.environ)
        check_length(command.argv, env)
        request = {"argv": list(command.argv), "env": env, "cwd": command.cwd or os.getcwd()}
        data = (json.dumps(request) + "\n").encode("utf-8")
        started = time.perf_counter()
        try:
            while data:
                data = data[os.write(self._write, data) :]
        except OSError:  # EPIPE: it ended before reading (a signal, memory): nothing was run
            self.close()
            return None
        finally:
            self._close_input()
        try:
            rc, timed_out = _wait(self._proc.pid, self._proc.wait, command, self._registry)
            return Output(
                rc=rc,
                stdout=self._out.text(),
                stderr=self._err.text(),
                duration=time.perf_counter() - started,
                timed_out=timed_out,
                failed=rc != 0,
            )
        finally:
            self._out.close()
            self._err.close()

    def _close_input(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1

    def close(self) -> None:
        """Not needed: end of input ends it; its group is ended if it is still there."""
        if self._write < 0 and self._out.fd < 0:
            return
        self._close_input()
        try:
            self._proc.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            kill_group(self._proc.pid)
            self._proc.wait()
        if not _group_exists(self._proc.pid):
            self._registry.discard(self._proc.pid)
        self._out.close()
        self._err.close()


def _spawn(executable: str, command: Command, stdin: int, stdout: int, stderr: int) -> Any:
    """Start the command in its own session (Popen: vfork + exec, no Python in the child)."""
    try:
        return subprocess.Popen(
            command.argv,
            executable=executable,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=_environment(command.env),
            cwd=command.cwd,
            start_new_session=True,
        )
    except OSError as exc:  # exec failed: the binary went away, no +x, not a program, no cwd
        binary = command.argv[0]
        why = exc.strerror or str(exc)
        if command.cwd and exc.filename == command.cwd:
            why = f"{why}: {command.cwd}"
        raise MissingBinaryError(
            msg("cannot run {binary}: {why}", binary=binary, why=why), hint=_hint_for(binary)
        ) from exc


def _run_streamed(
    program: Any,
    command: Command,
    on_output: OutputCallback,
    registry: ProcessRegistry,
    on_start: Callable[[int], None] | None,
) -> Output:
    """Run through sh with a line callback per stream: output is passed on as it comes."""
    out: list[str] = []
    err: list[str] = []
    started = time.perf_counter()
    proc = _start(
        program, command, _collector(out, "stdout", on_output), _collector(err, "stderr", on_output)
    )
    if on_start is not None:
        on_start(proc.pid)
    rc, timed_out = _wait(proc.pid, lambda: int(proc.wait().exit_code), command, registry)
    return Output(
        rc=rc,
        stdout="".join(out),
        stderr="".join(err),
        duration=time.perf_counter() - started,
        timed_out=timed_out,
        failed=rc != 0,
    )


def _start(program: Any, command: Command, stdout: Any, stderr: Any) -> Any:
    """Start the command through sh in its own session; ``stdout``/``stderr`` are callbacks."""
    import sh

    try:
        return program(*command.argv[1:], **_call_args(command, stdout, stderr))
    except sh.ForkException as exc:  # exec failed in the child: the binary went away, or no +x
        binary = command.argv[0]
        why = str(exc).strip().splitlines()[-1].strip()  # the child's traceback ends with the error
        raise MissingBinaryError(
            msg("cannot run {binary}: {why}", binary=binary, why=why), hint=_hint_for(binary)
        ) from exc


def _wait(
    pgid: int, wait: Callable[[], int], command: Command, registry: ProcessRegistry
) -> tuple[int, bool]:
    """Wait (``wait()`` gives the exit code) for the end, or the timeout: the group is killed;
    (rc, timed out)."""
    registry.add(pgid)
    timed_out = threading.Event()
    token = WATCHDOG.add(command.timeout, lambda: _expire(pgid, timed_out))
    try:
        rc = wait()
    finally:
        WATCHDOG.cancel(token)
    if timed_out.is_set():
        kill_group(pgid)  # the leader is gone; see the rest of its group gone too
    # What the command left running in its group (`sleep 60 &`) stays tracked, so the end of
    # the run ends it: only an empty group is forgotten.
    if not _group_exists(pgid):
        registry.discard(pgid)
    if registry.interrupted.is_set():
        raise Interrupted(INTERRUPTED)
    return (TIMEOUT_RC if timed_out.is_set() else rc), timed_out.is_set()


def _expire(pgid: int, flag: threading.Event) -> None:
    """Timer callback: mark the command timed out and end its group."""
    flag.set()
    kill_group(pgid)


def _call_args(command: Command, stdout: Any, stderr: Any) -> dict[str, Any]:
    """sh keyword arguments: background, own session, explicit stdin, output to callbacks."""
    return {
        "_bg": True,
        "_bg_exc": False,
        "_env": _environment(command.env),
        "_cwd": command.cwd,
        "_ok_code": _OK_CODES,
        "_decode_errors": "replace",
        "_new_session": True,
        "_in": command.stdin or _devnull(),
        "_tty_out": False,
        "_out": stdout,
        "_err": stderr,
    }


def _collector(sink: list[str], stream: str, on_output: OutputCallback) -> Callable[[str], None]:
    """A line callback for sh that keeps the text and forwards it live."""

    def collect(line: str) -> None:
        sink.append(line)
        on_output(stream, line.rstrip("\n"))

    return collect


# --- background services ------------------------------------------------------------------


class Service:
    """A background process (``kubectl proxy``) with a readiness probe; ``stop()`` ends it."""

    def __init__(self, name: str, *, registry: ProcessRegistry | None = None) -> None:
        self.name = name
        self.registry = registry or DEFAULT_REGISTRY
        self.pid: int | None = None
        self.url: str | None = None
        self.port: int | None = None
        self._proc: Any = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and bool(self._proc.is_alive())

    def start(
        self,
        command: Command,
        *,
        ready_http: str | None = None,
        ready_tcp: int | None = None,
        ready_timeout: float = 30.0,
        port: int | None = None,
    ) -> None:
        """Start the process and wait until the probe answers (ServiceError otherwise)."""
        check_length(command.argv, _environment(command.env))
        program = _command(command.argv[0])
        self._proc = program(
            *command.argv[1:],
            _bg=True,
            _bg_exc=False,
            _new_session=True,
            _env=_environment(command.env),
            _ok_code=_OK_CODES,
            _in=command.stdin or "",
            _tty_out=False,
            _decode_errors="replace",
            _out=self._keep,
            _err=self._keep,
        )
        self.pid = self._proc.pid
        self.registry.add(self.pid)
        self.registry.add_service(self)
        self.url = _base_url(ready_http, port)
        self.port = port or ready_tcp
        self._wait_ready(ready_http, ready_tcp, ready_timeout, port)

    def _keep(self, line: str) -> None:
        """sh line callback: keep the last lines."""
        self._tail.append(line)

    def _wait_ready(
        self, http: str | None, tcp: int | None, timeout: float, port: int | None = None
    ) -> None:
        """Poll the probe until it answers, the process exits or ``timeout`` passes.

        A service given ``port`` listens on it itself (``kubectl proxy --port``): an answer on
        that port from a process of another group is not this service being ready.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.registry.interrupted.is_set():
                self.stop()
                raise Interrupted(INTERRUPTED)
            if not self.running:
                self._fail(msg("exited before it was ready"))
            # two runs may both find a port free, and only one can bind it: the other's probe
            # must not take the first one's answer for its own
            probed = _probed_port(http, tcp)
            if _probe(http, tcp) and (probed != port or self._listens(probed)):
                return
            # a refused probe costs ~0.1 ms: look often while a quick start is likely (kubectl
            # proxy listens ~70 ms after its start), then at a calmer pace
            time.sleep(0.01 if time.monotonic() < deadline - timeout + 1.0 else 0.05)
        self.stop()
        seconds = f"{timeout:g}"
        self._fail(msg("was not ready after {seconds}s", seconds=seconds))

    def _listens(self, port: int | None) -> bool:
        """True unless ``port``'s listening socket is known to be another process group's."""
        if port is None or self.pid is None:
            return True
        owners = _listeners(port)
        if owners is None:  # no /proc/net/tcp: cannot tell
            return True
        # the service itself is the listener (kubectl proxy): one look at its fds, not at /proc
        if owners & _socket_inodes([self.pid]):
            return True
        return bool(owners & _socket_inodes(_group_members(self.pid)))

    def _fail(self, what: Msg) -> None:
        """Raise ServiceError with the output tail and a hint when the port is taken."""
        self.stop()
        tail = "".join(self._tail).strip()
        hint = None
        if "address already in use" in tail.lower() or "bind" in tail.lower():
            hint = msg("port {port} is in use; free it or choose another `port:`", port=self.port)
        message = msg("service {name!r} {what}", name=self.name, what=what)
        if tail:
            message = msg(
                "service {name!r} {what}; output:\n{tail}", name=self.name, what=what, tail=tail
            )
        raise ServiceError(message, hint=hint)

    def tail(self) -> str:
        """The last lines the service printed."""
        return "".join(self._tail)

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """End the service's process group (TERM, then KILL) and reap it."""
        if self._proc is None or self.pid is None:
            return
        kill_group(self.pid, grace)
        self.reap()

    def reap(self) -> None:
        """Wait for the ended process (its exit status) and forget its group."""
        if self._proc is None or self.pid is None:
            return
        with contextlib.suppress(Exception):
            self._proc.wait()
        self.registry.discard(self.pid)


def _probe(http: str | None, tcp: int | None) -> bool:
    """True when the HTTP URL answers (any status below 500) or the TCP port accepts."""
    if http:
        try:
            with urllib.request.urlopen(http, timeout=1.0) as response:
                return int(response.status) < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except (OSError, ValueError):
            return False
    if tcp:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", tcp)) == 0
    return True


def _probed_port(http: str | None, tcp: int | None) -> int | None:
    """The local TCP port a readiness probe reaches (None when it is not on this machine)."""
    if http:
        from urllib.parse import urlsplit

        parts = urlsplit(http)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return tcp


def _listeners(port: int) -> set[str] | None:
    """The socket inodes listening on TCP ``port`` (/proc/net/tcp, tcp6); None without /proc."""
    found: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            # "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode"
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                found.add(fields[9])
    return found if readable else None


def _socket_inodes(pids: list[int]) -> set[str]:
    """The inodes of the sockets ``pids`` hold open."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


def port_is_free(port: int) -> bool:
    """True when ``port`` can be bound on 127.0.0.1 (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # servers (kubectl proxy, http.server) set SO_REUSEADDR, so a listener is what matters
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_port(preferred: int | None) -> int:
    """``preferred`` when it is free, else a free port."""
    if preferred and port_is_free(preferred):
        return preferred
    return free_port()


class PortClaims:
    """Ports handed out during one run: hosts that start services in parallel never get the
    same port (a free-port check alone races between threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: set[int] = set()

    def choose(self, preferred: int | None) -> int:
        """``preferred`` when free and unclaimed, else a free unclaimed port; claim it."""
        with self._lock:
            if preferred and preferred not in self._claimed and port_is_free(preferred):
                port = preferred
            else:
                port = free_port()
                while port in self._claimed:
                    port = free_port()
            self._claimed.add(port)
            return port


class _Terminated(BaseException):
    """SIGTERM or SIGHUP turned into an exception so the run can clean up like on Ctrl-C."""


# SIGHUP: the terminal closed (a window shut, an SSH session dropped). The run's services have
# process groups of their own, so the terminal's hang-up does not reach them: the run ends them.
_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_all_on_exit(registry: ProcessRegistry) -> Iterator[ProcessRegistry]:
    """Stop every process group of ``registry`` on any exit; Ctrl-C, SIGTERM and SIGHUP raise
    Interrupted."""
    previous = _install_sigterm()
    previous_int = _install_sigint(registry)
    try:
        yield registry
    except (KeyboardInterrupt, _Terminated) as exc:
        registry.interrupted.set()
        registry.stop_all()
        raise Interrupted(STOPPED) from exc
    finally:
        registry.stop_all()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


def _install_sigterm() -> dict[int, Any]:
    """Make SIGTERM and SIGHUP raise in the main thread (only it may set handlers); the
    handlers they replace, to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous: dict[int, Any] = {}
    for signum in _ENDING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup: the user asked for the run to outlive the terminal
        previous[signum] = signal.signal(signum, terminate)
    return previous


def _install_sigint(registry: ProcessRegistry) -> Any:
    """Ctrl-C raises KeyboardInterrupt in the main thread, unless it was typed for an
    interactive command that is being given the terminal (``ProcessRegistry.handing_over``)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None  # someone chose another handling (SIG_IGN, a test harness): keep it

    def interrupt(signum: int, frame: Any) -> None:
        if not registry.interrupt_is_for_the_command():
            raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, interrupt)


def _base_url(ready_http: str | None, port: int | None) -> str | None:
    """The service's base URL (scheme://host:port) from its readiness URL, or from its port."""
    if ready_http:
        from urllib.parse import urlsplit

        parts = urlsplit(ready_http)
        return f"{parts.scheme}://{parts.netloc}"
    return f"http://127.0.0.1:{port}" if port else None
