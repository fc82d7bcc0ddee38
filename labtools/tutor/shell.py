"""The student's shell: the one line that makes their kubectl reach the lab, and ``lab.shell``.

``invoke lab.shell`` starts bash with that environment and a prompt hook that appends every command
the student runs, with its exit code, to a log the tutor reads (``check: history``). The log, the
rc file, bash's own history and the command shims live in ``.labtools/tutor/<lab>/<host>/``: the
student's ``~/.bash_history`` and ``~/.bashrc`` are never written.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from labtools.core.checks import LoggedCommand, parse_log_line
from labtools.core.errors import MissingBinaryError
from labtools.core.messages import msg
from labtools.core.model import Host
from labtools.providers.base import Provider

TUTOR_DIR = Path(".labtools") / "tutor"


def tutor_dir(root: Path, lab: str, host: str) -> Path:
    """Where one participant's tutor files live: ``.labtools/tutor/<lab>/<host>/``."""
    return root / TUTOR_DIR / lab / host


@dataclass(frozen=True)
class ShellSetup:
    """What a student's shell needs to reach one host, and where its files are."""

    lab: str
    host: str
    directory: Path
    env: Mapping[str, str]  # exported (KUBECONFIG...)
    shims: Mapping[str, tuple[str, ...]]  # name -> the full command it runs

    @property
    def bin_dir(self) -> Path:
        """The shims' directory (first on the shell's PATH)."""
        return self.directory / "bin"

    @property
    def log(self) -> Path:
        """What the student ran in ``lab.shell``: ``RC<TAB>COMMAND`` lines."""
        return self.directory / "shell.log"

    @property
    def pids(self) -> Path:
        """The process ids of the lab shells opened (one per line)."""
        return self.directory / "shell.pids"

    @property
    def rcfile(self) -> Path:
        """The bash rc file of ``lab.shell``."""
        return self.directory / "bashrc"


def shell_setup(root: Path, lab: str, host: Host, provider: Provider) -> ShellSetup:
    """The shell setup of ``host`` (nothing is written)."""
    return ShellSetup(
        lab=lab,
        host=host.name,
        directory=tutor_dir(root, lab, host.name),
        env=dict(provider.shell_env(host)),
        shims=dict(provider.shell_commands(host)),
    )


def export_line(setup: ShellSetup) -> str | None:
    """The one line that makes a shell reach the lab (None when a plain shell already does)."""
    # KUBECONFIG first: it is the one that matters to kubectl
    keys = sorted(setup.env, key=lambda key: key != "KUBECONFIG")
    parts = [f"{key}={shlex.quote(setup.env[key])}" for key in keys]
    if setup.shims:
        parts.append(f'PATH={shlex.quote(str(setup.bin_dir))}:"$PATH"')
    return f"export {' '.join(parts)}" if parts else None


def write_shell_files(setup: ShellSetup) -> None:
    """The shims (executable two-line scripts) and the rc file of ``lab.shell``.

    The participant's folder is theirs only (0700): the shell log and history hold what they
    typed, a `--set db_password=...` included.
    """
    setup.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    setup.directory.chmod(0o700)  # made by an older labtools with the default mode
    setup.bin_dir.mkdir(parents=True, exist_ok=True)
    for name, command in setup.shims.items():
        shim = setup.bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
        shim.chmod(0o755)
    setup.rcfile.write_text(rc_text(setup))


def rc_text(setup: ShellSetup) -> str:
    """The rc file: the user's own ~/.bashrc, the lab's environment, the prompt hook."""
    line = export_line(setup)
    quoted = {name: shlex.quote(str(path)) for name, path in _files(setup).items()}
    return f"""# written by labtools for `invoke lab.shell` (lab {setup.lab}, host {setup.host})
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
{line or ": the default kubeconfig reaches this lab"}
export LABTOOLS_LAB={shlex.quote(setup.lab)} LABTOOLS_HOST={shlex.quote(setup.host)}
HISTFILE={quoted["history"]}
HISTCONTROL=
printf '%s\\n' "$$" >> {quoted["pids"]}
__labtools_last=
__labtools_seen=
__labtools_log() {{
  local rc=$? entry
  entry=$(HISTTIMEFORMAT= builtin history 1)
  if [ -z "$__labtools_seen" ]; then
    __labtools_seen=1 __labtools_last=$entry  # what history held before this shell
  elif [ -n "$entry" ] && [ "$entry" != "$__labtools_last" ]; then
    __labtools_last=$entry
    printf '%s\\t%s\\n' "$rc" "$(printf '%s\\n' "$entry" | sed -e '1s/^ *[0-9][0-9]*[* ] *//' \\
      | tr '\\n' ' ')" >> {quoted["log"]}
  fi
  return $rc
}}
PROMPT_COMMAND="__labtools_log${{PROMPT_COMMAND:+; $PROMPT_COMMAND}}"
PS1="(lab {setup.lab}) $PS1"
"""


def _files(setup: ShellSetup) -> dict[str, Path]:
    return {
        "history": setup.directory / "bash_history",
        "pids": setup.pids,
        "log": setup.log,
    }


def exec_shell(setup: ShellSetup) -> NoReturn:
    """Replace this process with the lab's interactive bash (raises if bash is missing)."""
    bash = shutil.which("bash")
    if bash is None:
        raise MissingBinaryError(
            msg("command not found: {binary}", binary="bash"),
            hint=msg("install bash (Debian/Ubuntu: `apt-get install bash`)"),
        )
    write_shell_files(setup)
    os.execv(bash, [bash, "--rcfile", str(setup.rcfile), "-i"])


class ShellLog:
    """The commands the student ran in lab shells, read from an offset on."""

    def __init__(self, setup: ShellSetup) -> None:
        self.setup = setup

    def size(self) -> int:
        """The log's length now (entries after it are new)."""
        try:
            return self.setup.log.stat().st_size
        except FileNotFoundError:
            return 0

    def since(self, offset: int) -> list[LoggedCommand]:
        """Commands logged after ``offset`` (whole lines only)."""
        try:
            with self.setup.log.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        text = data.decode("utf-8", "replace")
        complete = text[: text.rfind("\n") + 1]
        return [entry for line in complete.splitlines() if (entry := parse_log_line(line))]

    def shell_open(self) -> bool:
        """True while a lab shell of this participant runs (so history steps can be seen)."""
        try:
            pids = self.setup.pids.read_text().split()
        except FileNotFoundError:
            return False
        return any(_is_shell(pid) for pid in pids if pid.isdigit())


def _is_shell(pid: str) -> bool:
    """The pid is alive and is a bash (not a recycled pid)."""
    with contextlib.suppress(OSError):
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return comm == "bash" and state != "Z"
    return False
