"""minikube's output plumbing: styled lines, CloudEvents (``--output json``) and fatal reasons."""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# Emoji prefix (colour TTY) and low-fi prefix (pipes), as in minikube's pkg/minikube/style.
STYLES: dict[str, tuple[str, str]] = {
    "happy": ("😄  ", "* "),
    "sparkle": ("✨  ", "* "),
    "pin": ("📌  ", "* "),
    "thumbs": ("👍  ", "* "),
    "pull": ("🚜  ", "* "),
    "fire": ("🔥  ", "* "),
    "running": ("🏃  ", "* "),
    "docker": ("🐳  ", "* "),
    "box": ("📦  ", "* "),
    "link": ("🔗  ", "* "),
    "search": ("🔎  ", "* "),
    "star": ("🌟  ", "* "),
    "surf": ("🏄  ", "* "),
    "kubectl": ("💗  ", "* "),
    "celebrate": ("🎉  ", "* "),
    "moon": ("🌑  ", "* "),
    "stop": ("✋  ", "* "),
    "stopped": ("🛑  ", "* "),
    "skull": ("💀  ", "* "),
    "shrug": ("🤷  ", "* "),
    "pointer": ("👉  ", "* "),
    "meh": ("🙄  ", "* "),
    "tip": ("💡  ", "* "),
    "check": ("✅  ", "* "),
    "doc": ("📘  ", "* "),
    "sub": ("    ▪ ", "  - "),
    "warning": ("❗  ", "! "),
    "failure": ("❌  ", "X "),
    "empty": ("", ""),
}

EVENT_SOURCE = "https://minikube.sigs.k8s.io/"

# Step names of `minikube start` in register order; totalsteps is len - 1 ("19").
START_STEPS = (
    "Initial Minikube Setup",
    "Selecting Driver",
    "Downloading Artifacts",
    "Starting Node",
    "Updating Driver",
    "Pulling Base Image",
    "Running on Localhost",
    "Local OS Release",
    "Creating Container",
    "Creating VM",
    "Running Remotely",
    "Preparing Kubernetes",
    "Generating certificates",
    "Booting control plane",
    "Configuring RBAC rules",
    "Configuring CNI",
    "Configuring Localhost Environment",
    "Verifying Kubernetes",
    "Enabling Addons",
    "Done",
)
STOP_STEPS = ("Stopping", "PowerOff", "Done")
DELETE_STEPS = ("Deleting", "Stopping", "Done", "Puring home dir")


@dataclass(frozen=True)
class Reason:
    """A minikube exit reason: ID, exit code and the optional advice/doc URL."""

    id: str
    code: int
    advice: str = ""
    url: str = ""


MK_USAGE = Reason("MK_USAGE", 14)
MK_USAGE_NO_PROFILE = Reason(
    "MK_USAGE_NO_PROFILE", 14, advice="You can create one using 'minikube start'."
)
MK_OUTPUT_USAGE = Reason("MK_OUTPUT_USAGE", 10)
MK_ADDON_ENABLE = Reason("MK_ADDON_ENABLE", 10)
RSRC_INSUFFICIENT_CORES = Reason("RSRC_INSUFFICIENT_CORES", 29)
RSRC_INSUFFICIENT_REQ_MEMORY = Reason("RSRC_INSUFFICIENT_REQ_MEMORY", 23)
DRV_UNSUPPORTED_OS = Reason("DRV_UNSUPPORTED_OS", 56)
GUEST_START = Reason("GUEST_START", 80)
K8S_OLD_UNSUPPORTED = Reason("K8S_OLD_UNSUPPORTED", 106)
SVC_NOT_FOUND = Reason("SVC_NOT_FOUND", 115)
SVC_UNREACHABLE = Reason("SVC_UNREACHABLE", 115)
MK_CONFIG = Reason("MK_CONFIG", 18)


class Exit(Exception):
    """Ends the command with an exit code (the CLI's one error boundary turns it into a return)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def wants_color(stream: TextIO) -> bool:
    """minikube's wantsColor: MINIKUBE_IN_STYLE overrides; else a colour TERM and a TTY."""
    override = os.environ.get("MINIKUBE_IN_STYLE", "")
    if override.lower() in {"1", "t", "true"}:
        return True
    if override.lower() in {"0", "f", "false"}:
        return False
    term, colorterm = os.environ.get("TERM", ""), os.environ.get("COLORTERM", "")
    if "color" not in term and not any(w in colorterm for w in ("truecolor", "24bit", "yes")):
        return False
    try:
        return stream.isatty()
    except ValueError:
        return False


def cloud_event(kind: str, data: dict[str, str]) -> str:
    """One CloudEvents JSON line (sdk-go envelope order; data keys sorted like a Go map)."""
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": EVENT_SOURCE,
        "type": f"io.k8s.sigs.minikube.{kind}",
        "datacontenttype": "application/json",
        "data": dict(sorted(data.items())),
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Console:
    """Writes what minikube writes: text with prefixes, or CloudEvents in JSON mode."""

    json_mode: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    steps: tuple[str, ...] = ()
    current: int = 0
    recorded: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.color = wants_color(self.out)

    def styled_text(self, style: str, message: str) -> str:
        """The message with its emoji or low-fi prefix."""
        emoji, low = STYLES[style]
        return (emoji if self.color else low) + message

    def step(self, name: str, style: str, message: str) -> None:
        """A progress step: stdout line in text mode, a step event in JSON mode."""
        if name in self.steps:
            self.current = self.steps.index(name)
        text = self.styled_text(style, message)
        data = {
            "currentstep": str(self.current),
            "message": message + "\n",
            "name": name,
            "totalsteps": str(max(len(self.steps) - 1, 0)),
        }
        if self.json_mode:
            self._emit(cloud_event("step", data))
            return
        self.recorded.append(cloud_event("step", {**data, "message": text}))
        self._write(self.out, text)

    def styled(self, style: str, message: str) -> None:
        """A plain styled line on stdout (an info event in JSON mode)."""
        if self.json_mode:
            self._emit(cloud_event("info", {"message": message + "\n"}))
            return
        self._write(self.out, self.styled_text(style, message))

    def warning(self, message: str) -> None:
        """A warning on stderr (a warning event in JSON mode)."""
        if self.json_mode:
            self._emit(cloud_event("warning", {"message": message}))
            return
        self._write(self.err, self.styled_text("warning", message))

    def err_styled(self, style: str, message: str) -> None:
        """A styled line on stderr (an error event in JSON mode, like out.ErrT)."""
        if self.json_mode:
            self._emit(cloud_event("error", {"message": message}))
            return
        self._write(self.err, self.styled_text(style, message))

    def line(self, text: str = "") -> None:
        """A raw line on stdout (silent in JSON mode, like out.Ln)."""
        if not self.json_mode:
            self._write(self.out, text)

    def fail(self, reason: Reason, message: str) -> Exit:
        """Print ``Exiting due to ID: message`` (or an error event); return the Exit to raise."""
        if self.json_mode:
            data = {
                "advice": reason.advice,
                "exitcode": str(reason.code),
                "issues": "",
                "message": message.strip(),
                "name": reason.id,
                "url": reason.url,
            }
            self._emit(cloud_event("error", data))
            return Exit(reason.code)
        self.line()
        text = self.styled_text("failure", f"Exiting due to {reason.id}: {message}")
        self.recorded.append(cloud_event("error", {"message": text}))
        self._write(self.err, text)
        if reason.advice:
            self._write(self.err, self.styled_text("tip", f"Suggestion: {reason.advice}"))
        if reason.url:
            self._write(self.err, self.styled_text("doc", f"Documentation: {reason.url}"))
        self.line()
        return Exit(reason.code)

    def save_events(self, path: Path) -> None:
        """Write the recorded events to the profile's events.json (one event per line)."""
        if not path.parent.is_dir():
            return
        path.write_text("".join(line + "\n" for line in self.recorded), encoding="utf-8")

    def _emit(self, line: str) -> None:
        self.recorded.append(line)
        self._write(self.out, line)

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        stream.write(text + "\n")
        stream.flush()
