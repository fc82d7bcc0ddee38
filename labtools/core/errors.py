"""Typed errors. Library code raises them; only tasks.py turns them into exit codes and messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labtools.core.messages import Text, english, msg, msgn

if TYPE_CHECKING:
    from labtools.core.i18n import Translator


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem is: file, 1-based line, key path (``deploy[2].when``)."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}" if self.key else where


class LabError(Exception):
    """Base of every error labtools reports to a user; knows its exit code and formats itself.

    ``message`` and ``hint`` may be catalogue messages (``msg(...)``): ``format(translator)``
    shows them in the reader's language; ``.message``/``.hint`` are their English text.
    """

    exit_code = 1
    kind = "error"

    def __init__(
        self,
        message: Text,
        *,
        location: Location | None = None,
        hint: Text | None = None,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(english(message))
        self.text = message
        self.hint_text = hint
        self.location = location
        if exit_code is not None:  # a run's failure takes the code of what caused it
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The message in English."""
        return english(self.text)

    @property
    def hint(self) -> str | None:
        """The hint in English (None without one)."""
        return None if self.hint_text is None else english(self.hint_text)

    def format(self, translator: Translator | None = None) -> str:
        """One paragraph: ``file:line: key: message`` and an indented ``hint:`` line."""
        render = translator.render if translator is not None else english
        body = render(self.text)
        text = f"{self.location}: {body}" if self.location else body
        if self.hint_text is not None:
            text += "\n  " + render(msg("hint: {hint}", hint=self.hint_text))
        return text

    def one_line(self, root: str | None = None, translator: Translator | None = None) -> str:
        """``file:line: key: message (hint)`` on one line; paths relative to ``root``."""
        render = translator.render if translator is not None else english
        where = self.location
        if where is not None and root and where.file.startswith(root.rstrip("/") + "/"):
            where = Location(where.file[len(root.rstrip("/")) + 1 :], where.line, where.key)
        message = render(self.text)
        if where is not None and where.key and message.startswith(f"{where.key}: "):
            message = message[len(where.key) + 2 :]  # the key is said once
        text = " ".join((f"{where}: {message}" if where else message).split())  # one line
        hint = " ".join(render(self.hint_text).split()) if self.hint_text is not None else ""
        return f"{text} ({hint})" if hint else text

    def __str__(self) -> str:
        return self.format()


class ConfigError(LabError):
    """Bad input in inventory, playbooks, templates, options or invoke config."""

    exit_code = 2
    kind = "config error"


class YamlSyntaxError(ConfigError):
    """A YAML file does not parse."""


class SchemaError(ConfigError):
    """Unknown key, wrong type, missing key, bad value in a YAML document."""


class InventoryError(ConfigError):
    """The inventory is inconsistent (duplicate host, empty range, unknown host pattern...)."""


class TemplateError(ConfigError):
    """A template is missing, does not compile, or uses an undefined variable."""


class Problems(ConfigError):
    """Several problems found at once (a lab that does not load): each on its own line."""

    def __init__(self, problems: tuple[LabError, ...], *, root: str | None = None) -> None:
        self.problems = tuple(sorted(problems, key=file_and_line))
        self.root = root
        count = len(self.problems)
        super().__init__(msgn("{n} problem:", "{n} problems:", count))

    def format(self, translator: Translator | None = None) -> str:
        """The count, then one line per problem."""
        lines = [f"  {problem.one_line(self.root, translator)}" for problem in self.problems]
        return "\n".join([super().format(translator), *lines])


def file_and_line(error: LabError) -> tuple[str, int]:
    """Sort key of problems: by file, then line."""
    where = error.location
    return (where.file, where.line or 0) if where else ("", 0)


class OptionError(ConfigError):
    """A task option is malformed (``--set`` without ``=``, unknown phase, bad tag...)."""


class ProviderError(LabError):
    """A provider cannot work here: missing binary, unsupported driver, preflight failure."""

    exit_code = 3
    kind = "provider error"


class MissingBinaryError(ProviderError):
    """A binary (kubectl, minikube) is not on PATH."""


class PreflightError(ProviderError):
    """The machine does not have what the inventory asks for (CPU, memory, disk, driver)."""


class ClusterUnreachableError(ProviderError):
    """The cluster does not answer."""


class RunDirError(ProviderError):
    """The run's record cannot be written: ``runs`` is a file, not writable, or the disk is full."""

    kind = "run directory error"


class TargetBusyError(ProviderError):
    """Another run holds the lock of a cluster (profile) or namespace this run targets."""

    kind = "busy"


class ServiceError(LabError):
    """A background service could not start or never became ready (port in use, probe timeout)."""

    exit_code = 4
    kind = "service error"


class CommandTooLongError(LabError):
    """A rendered command is longer than the system lets a program start with (E2BIG)."""

    kind = "command too long"


class NulInCommandError(LabError):
    """A rendered command or its environment holds a NUL character, which exec cannot carry."""

    kind = "bad command"


class RunFailed(LabError):
    """At least one step failed on at least one host; the recap has the details."""

    exit_code = 1
    kind = "run failed"


class Interrupted(LabError):
    """The run was interrupted (Ctrl-C); everything it started was stopped."""

    exit_code = 130
    kind = "interrupted"
