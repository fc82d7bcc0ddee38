"""The fake minikube's command line: parse, dispatch, turn Exit into a return code."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from labtools.testing.minikube import commands, common, extras, images, start
from labtools.testing.minikube.common import Invocation
from labtools.testing.minikube.console import Console, Exit
from labtools.testing.minikube.flags import Flag, UsageError, parse

EXIT_USAGE = 14
OUTPUT = Flag("output", "o", "str", None)


@dataclass(frozen=True)
class Command:
    """A subcommand: its flags, handler and one-line help."""

    flags: tuple[Flag, ...]
    handler: Callable[[Invocation], int]
    short: str
    json_events: bool = False


COMMANDS: dict[str, Command] = {
    "start": Command(start.FLAGS, start.run, "Starts a local Kubernetes cluster", True),
    "status": Command(
        (
            Flag("output", "o", "str", "text"),
            Flag("format", "f"),
            Flag("layout", "l"),
            Flag("node", "n"),
            Flag("watch", "w"),
        ),
        commands.status,
        "Gets the status of a local Kubernetes cluster",
    ),
    "stop": Command(
        (
            Flag("all", None, "bool", False),
            Flag("keep-context-active", None, "bool", False),
            OUTPUT,
            Flag("schedule"),
            Flag("cancel-scheduled", None, "bool", False),
        ),
        commands.stop,
        "Stops a running local Kubernetes cluster",
        True,
    ),
    "delete": Command(
        (Flag("all", None, "bool", False), Flag("purge", None, "bool", False), OUTPUT),
        commands.delete,
        "Deletes a local Kubernetes cluster",
        True,
    ),
    "ip": Command(
        (Flag("node", "n"),), commands.ip, "Retrieves the IP address of the specified node"
    ),
    "service": Command(
        (
            Flag("url", None, "bool", False),
            Flag("namespace", "n", "str", "default"),
            Flag("format", None),
            Flag("https", None, "bool", False),
            Flag("all", None, "bool", False),
            Flag("wait", None, "str", "2"),
            Flag("interval", None, "str", "1"),
        ),
        extras.service,
        "Returns a URL to connect to a service",
    ),
    "logs": Command(
        (
            Flag("file"),
            Flag("length", "n", "str", "60"),
            Flag("follow", "f", "bool", False),
            Flag("problems", None, "bool", False),
            Flag("node"),
            Flag("audit", None, "bool", False),
            Flag("last-start-only", None, "bool", False),
        ),
        extras.logs,
        "Returns logs to debug a local Kubernetes cluster",
    ),
    "kubectl": Command(
        (Flag("ssh", None, "bool", False),),
        extras.kubectl,
        "Run a kubectl binary matching the cluster version",
    ),
    "addons": Command(
        (
            OUTPUT,
            Flag("docs", "d", "bool", False),
            Flag("images"),
            Flag("registries"),
            Flag("force", None, "bool", False),
        ),
        extras.addons,
        "Enable or disable a minikube addon",
    ),
    "profile": Command(
        (OUTPUT, Flag("light", "l", "bool", False), Flag("detailed", "d", "bool", False)),
        commands.profile,
        "Get or list the current profiles (clusters)",
    ),
    "update-context": Command(
        (), commands.update_context, "Update kubeconfig in case of an IP or port change"
    ),
    "cache": Command((Flag("all", None, "bool", False),), images.cache, "Manage cache for images"),
    "image": Command(
        (
            Flag("pull", None, "bool", False),
            Flag("daemon", None, "bool", False),
            Flag("remote", None, "bool", False),
            Flag("overwrite", None, "bool", True),
        ),
        images.image,
        "Manage images",
    ),
    "version": Command(
        (OUTPUT, Flag("short", None, "bool", False), Flag("components", None, "bool", False)),
        commands.version,
        "Print the version of minikube",
    ),
}

HELP = """\
minikube provisions and manages local Kubernetes clusters optimized for development workflows.
(labtools fake minikube: a test double backed by a fake Kubernetes API server.)

Basic Commands:
  start            Starts a local Kubernetes cluster
  status           Gets the status of a local Kubernetes cluster
  stop             Stops a running local Kubernetes cluster
  delete           Deletes a local Kubernetes cluster

Images Commands:
  cache            Manage cache for images
  image            Manage images

Configuration and Management Commands:
  addons           Enable or disable a minikube addon

Networking and Connectivity Commands:
  service          Returns a URL to connect to a service

Advanced Commands:
  kubectl          Run a kubectl binary matching the cluster version

Troubleshooting Commands:
  logs             Returns logs to debug a local Kubernetes cluster
  ip               Retrieves the IP address of the specified node
  update-context   Update kubeconfig in case of an IP or port change
  version          Print the version of minikube

Other Commands:
  profile          Get or list the current profiles (clusters)

Use "minikube <command> --help" for more information about a given command.
"""


def _command_help(name: str, cmd: Command) -> str:
    flags = "\n".join(
        f"    {'-' + f.short + ', ' if f.short else '    '}--{f.name}" for f in cmd.flags
    )
    return f"{cmd.short}.\n\nOptions:\n{flags}\n\nUsage:\n  minikube {name} [flags] [options]\n"


def _split_command(argv: list[str]) -> tuple[str, list[str]]:
    """The first word that is not a flag (or a global flag's value) is the command."""
    takes_value = {"-p", "--profile", "--log_dir", "--user", "-v"}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if not word.startswith("-"):
            return word, argv[:i] + argv[i + 1 :]
        i += 2 if word in takes_value else 1
    return "", argv


def _usage_error(err: TextIO, message: str, command: str) -> int:
    where = f"minikube {command}" if command else "minikube"
    err.write(f"Error: {message}\nSee '{where} --help' for usage.\n")
    return EXIT_USAGE


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run the fake minikube with ``argv`` (without the program name)."""
    name, rest = _split_command(argv)
    if not name:
        if any(a in ("-h", "--help") for a in rest) or not rest:
            out.write(HELP)
            return 0
        try:
            parse(rest, ())
        except UsageError as exc:
            return _usage_error(err, str(exc), "")
        out.write(HELP)
        return 0
    if name == "help":
        out.write(HELP)
        return 0
    cmd = COMMANDS.get(name)
    if cmd is None:
        err.write(
            f'Error: unknown command "{name}" for "minikube"\nRun \'minikube --help\' for usage.\n'
        )
        return EXIT_USAGE
    try:
        parsed = parse(rest, cmd.flags)
    except UsageError as exc:
        return _usage_error(err, str(exc), name)
    if parsed.values.get("help"):
        out.write(_command_help(name, cmd))
        return 0
    json_mode = cmd.json_events and parsed.values.get("output") == "json"
    console = Console(json_mode=json_mode, out=out, err=err)
    profile = parsed.values.get("profile") or common.active_profile()
    inv = Invocation(name, parsed, profile, console)
    started = time.strftime("%d %b %y %H:%M %Z")
    try:
        code = cmd.handler(inv)
    except Exit as exc:
        code = exc.code
    finally:
        out.flush()
    extras.audit(inv, started)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``labtools-fake-minikube`` / ``python -m labtools.testing.minikube``."""
    return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)
