"""Playbook schema and validation: every error names file, line, key path and a did-you-mean."""

from __future__ import annotations

import contextlib
import keyword
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from labtools.core.errors import ConfigError, Location, SchemaError, TemplateError
from labtools.core.messages import Text, msg
from labtools.core.model import ACTIONS, CHECK_KINDS, PHASES, Check, Lab, Step
from labtools.core.yamlfile import KeyPath, YamlDoc, did_you_mean, key_path, load_yaml

PLAYBOOK = "playbook.yml"  # playbooks/<lab>/playbook.yml
CHECKS_DIR = "checks"  # playbooks/<lab>/checks/test_<name>.py, run by `verify: <name>`
TOP_KEYS: tuple[str, ...] = ("name", "description", "hosts", "vars", "secrets", *PHASES)
CONTROLS: tuple[str, ...] = (
    "name",
    "register",
    "when",
    "until",
    "retries",
    "delay",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "timeout",
    "tags",
    "no_log",
    "env",
    "vars",
    "explain",
    "interactive",
    "stdin",
    "check",
    "hint",
    "solution",
)
STEP_KEYS: tuple[str, ...] = (*ACTIONS, *CONTROLS)
CLUSTER_OPS: tuple[str, ...] = ("start", "stop", "delete", "status")
LANGUAGES: tuple[str, ...] = ("en", "zh-TW")
SERVICE_KEYS: tuple[str, ...] = ("name", "kubectl", "command", "ready", "port", "env")
READY_KEYS: tuple[str, ...] = ("http", "tcp")
MANIFEST_KEYS: tuple[str, ...] = ("template", "diff", "server_side")
HTTP_KEYS: tuple[str, ...] = ("url", "method", "status", "contains", "headers", "body")
EXPRESSIONS: tuple[str, ...] = ("when", "until", "changed_when", "failed_when")
CHECK_SHORTHANDS: tuple[str, ...] = ("history", "confirm")  # `check: history`
CHECK_CONDITIONS: tuple[str, ...] = ("kubectl", "minikube", "command", "http")  # take `that:`
# steps whose own typed command `check: history` can look for (http: the curl the tutor shows)
HISTORY_ACTIONS: tuple[str, ...] = ("kubectl", "minikube", "command", "manifest", "http")
DEFAULT_UNTIL_RETRIES = 3

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class CheckedPlaybook:
    """What checking a playbook found: the lab (the steps that could be built) and its problems.

    ``unchecked`` are the steps whose own problems are reported already (later checks skip
    them), ``registers`` every name a step registers, its step built or not.
    """

    lab: Lab
    problems: tuple[ConfigError, ...] = ()
    unchecked: frozenset[Location] = frozenset()
    registers: frozenset[str] = frozenset()


class _Checker:
    """Validates one playbook document; ``path`` tuples index into ``doc.data``.

    Every problem is collected (``self.problems``), not only the first: each unit (a top-level
    key, a step, a control) is checked on its own, and a bad one is left out of the lab.
    """

    def __init__(self, doc: YamlDoc, templates_dir: Path | None, lab_dir: Path | None) -> None:
        self.doc = doc
        self.templates_dir = templates_dir
        self.lab_dir = lab_dir
        self.problems: list[ConfigError] = []
        self.unchecked: set[Location] = set()
        self.registers: set[str] = set()

    # -------------------------------------------------------------- helpers

    @contextlib.contextmanager
    def collecting(self, step: Location | None = None) -> Iterator[None]:
        """Check one unit: a problem is recorded (its step marked) and checking goes on."""
        try:
            yield
        except ConfigError as exc:
            self.problems.append(exc)
            if step is not None:
                self.unchecked.add(step)

    def fail(self, path: KeyPath, message: str, hint: Text | None = None) -> SchemaError:
        return SchemaError(message, location=self.doc.location(path), hint=hint)

    def expect(self, path: KeyPath, value: Any, kinds: tuple[type, ...], what: str) -> None:
        ok = isinstance(value, kinds) and not (
            isinstance(value, bool) and bool not in kinds and (int in kinds or float in kinds)
        )
        if not ok:
            name = path[-1] if path and isinstance(path[-1], str) else key_path(path)
            raise self.fail(path, f"'{name}' must be {what}, got {_type_name(value)}")

    def keys(
        self, path: KeyPath, mapping: Mapping[str, Any], allowed: tuple[str, ...], what: str
    ) -> None:
        unknown = [key for key in mapping if key not in allowed]
        for key in unknown[1:]:  # all of them are reported; the first one is raised
            hint = did_you_mean(str(key), allowed) or f"allowed keys: {', '.join(allowed)}"
            self.problems.append(self.fail((*path, key), f"{what}: unknown key '{key}'", hint))
        if unknown:
            key = unknown[0]
            hint = did_you_mean(str(key), allowed) or f"allowed keys: {', '.join(allowed)}"
            raise self.fail((*path, key), f"{what}: unknown key '{key}'", hint)

    def template(self, path: KeyPath, text: Any) -> None:
        from labtools.core.render import check_template, snippet_names

        if isinstance(text, str):
            check_template(text, source=self.doc.location(path))
            for name in snippet_names(text):
                self.template_file(path, name, "snippet")

    def template_file(self, path: KeyPath, name: str, what: str) -> None:
        """A file a step names under templates/ must exist (a did-you-mean when it does not)."""
        from labtools.core.render import missing_template

        if self.templates_dir is None or (self.templates_dir / name).is_file():
            return
        error = missing_template(name, self.templates_dir, what)
        raise TemplateError(error.message, location=self.doc.location(path), hint=error.hint)

    def templates_in(self, path: KeyPath, value: Any) -> None:
        """Compile every string inside a nested value."""
        if isinstance(value, str):
            self.template(path, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.templates_in((*path, key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.templates_in((*path, index), item)

    def expression(self, path: KeyPath, text: str) -> None:
        from labtools.core.render import check_template

        check_template(text, source=self.doc.location(path), expression=True)

    def variables(self, path: KeyPath, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        self.expect(path, value, (dict,), "a mapping of variables")
        for key in value:
            if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
                raise self.fail(
                    (*path, key),
                    f"variable name '{key}' is not an identifier",
                    "use letters, digits and '_' so templates can refer to it",
                )
        self.templates_in(path, value)
        return dict(value)

    # -------------------------------------------------------------- the lab

    def lab(self) -> Lab:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.fail(
                (),
                f"a playbook must be a mapping (name, vars, setup, ...), got {_type_name(data)}",
                "start the file with `name: <lab>` and phase lists like `setup:`",
            )
        with self.collecting():
            self.keys((), data, TOP_KEYS, "playbook")
        name = self.top(data, "name", self.default_name(), (str,), "a string")
        description = self.top(data, "description", "", (str,), "a string") or ""
        hosts = data.get("hosts", "all")
        if isinstance(hosts, list) and all(isinstance(item, str) for item in hosts):
            hosts = ",".join(hosts)
        with self.collecting():
            self.expect(("hosts",), hosts, (str,), "a host pattern (string)")
        lab_vars: dict[str, Any] = {}
        with self.collecting():
            lab_vars = self.variables(("vars",), data.get("vars"))
        secrets: tuple[str, ...] = ()
        with self.collecting():
            secrets = self.secrets(("secrets",), data.get("secrets"))
        phases = {phase: self.phase(phase, data.get(phase)) for phase in PHASES if phase in data}
        return Lab(
            name=name if isinstance(name, str) else self.default_name(),
            path=self.doc.file,
            description=description if isinstance(description, str) else "",
            hosts=hosts if isinstance(hosts, str) else "all",
            vars=lab_vars,
            phases=phases,
            source=self.doc.location((), key=""),
            secrets=secrets,
        )

    def default_name(self) -> str:
        """A lab is named after its folder (or its file, outside the layout)."""
        return self.lab_dir.name if self.lab_dir else Path(self.doc.file).stem

    def top(
        self, data: Mapping[str, Any], key: str, default: Any, kinds: tuple[type, ...], what: str
    ) -> Any:
        """A top-level value of the expected type (the default, and a problem, otherwise)."""
        value = data.get(key, default)
        if value is None and default == "":
            return default
        with self.collecting():
            self.expect((key,), value, kinds, what)
            return value
        return default

    def secrets(self, path: KeyPath, value: Any) -> tuple[str, ...]:
        """``secrets: [db_password]``: names of variables whose values are never shown."""
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(
                path,
                f"'secrets' must be a list of variable names, got {_type_name(value)}",
                "write `secrets: [db_password]`",
            )
        for index, name in enumerate(value):
            if not name.isidentifier() or keyword.iskeyword(name):
                raise self.fail((*path, index), f"secret '{name}' is not a variable name")
        return tuple(value)

    def phase(self, phase: str, steps: Any) -> tuple[Step, ...]:
        if steps is None:
            return ()
        with self.collecting():
            self.expect((phase,), steps, (list,), "a list of steps")
        if not isinstance(steps, list):
            return ()
        result: list[Step] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(steps):
            if isinstance(raw, dict) and isinstance(raw.get("register"), str):
                self.registers.add(raw["register"])
            with self.collecting(self.doc.location((phase, index))):
                step = self.step(phase, index, raw)
                if step.name in seen:
                    first = seen[step.name]
                    raise self.fail(
                        (phase, index, "name"),
                        f"duplicate step name '{step.name}' in phase '{phase}' "
                        f"(also {phase}[{first}] on line {self.doc.line((phase, first))})",
                        "give each step of a phase its own name",
                    )
                seen[step.name] = index
                result.append(step)
        return tuple(result)

    # -------------------------------------------------------------- one step

    def step(self, phase: str, index: int, raw: Any) -> Step:
        path: KeyPath = (phase, index)
        if not isinstance(raw, dict):
            raise self.fail(path, f"a step must be a mapping, got {_type_name(raw)}")
        label = f"step '{raw['name']}'" if isinstance(raw.get("name"), str) else f"step {index + 1}"
        source = self.doc.location(path)
        with self.collecting():
            self.keys(path, raw, STEP_KEYS, label)
        actions = [key for key in ACTIONS if key in raw]
        if len(actions) != 1:
            what = "no action" if not actions else f"{len(actions)} actions ({', '.join(actions)})"
            raise self.fail(
                path, f"{label} has {what}", f"give exactly one of: {', '.join(ACTIONS)}"
            )
        action = actions[0]
        spec = raw[action]
        name = raw.get("name", _default_name(action, spec))
        self.expect((*path, "name"), name, (str,), "a string")
        with self.collecting(source):  # an action that cannot be built: later checks skip it
            SPEC_CHECKS[action](self, (*path, action), spec)
        return Step(
            name=name,
            phase=phase,
            action=action,
            spec=spec,
            source=source,
            spec_source=self.doc.location((*path, action)),
            **self.controls(path, raw),
        )

    def controls(self, path: KeyPath, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The step's controls; each bad one is a problem of its own and is left out."""
        out: dict[str, Any] = {}
        for key, check in CONTROL_CHECKS.items():
            if key in raw:
                with self.collecting():
                    out[key] = check(self, (*path, key), raw[key])
        if "until" in out and "retries" not in raw:
            out["retries"] = DEFAULT_UNTIL_RETRIES
        if raw.get("check") is not None:  # it needs the step: a history check of its command
            with self.collecting():
                out["check"] = self.check((*path, "check"), raw["check"], raw)
        return out

    def control_condition(self, path: KeyPath, value: Any) -> str | bool:
        return self.condition(path, value, allow_bool=path[-1] == "changed_when")

    def control_retries(self, path: KeyPath, value: Any) -> int:
        return int(self.number(path, value, int, 0))

    def control_delay(self, path: KeyPath, value: Any) -> float:
        return float(self.number(path, value, float, 0))

    def control_timeout(self, path: KeyPath, value: Any) -> float | None:
        if value is None:
            return None
        timeout = self.number(path, value, float, 0)
        if timeout <= 0:
            raise self.fail(path, f"'timeout' must be > 0, got {timeout}")
        return float(timeout)

    def control_flag(self, path: KeyPath, value: Any) -> bool:
        self.expect(path, value, (bool,), "true or false")
        return bool(value)

    def control_stdin(self, path: KeyPath, value: Any) -> str | None:
        if value is None:
            return None
        self.expect(path, value, (str,), "a string (template)")
        self.template(path, value)
        return str(value)

    def register(self, path: KeyPath, value: Any) -> str:
        if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
            raise self.fail(
                path,
                f"'register' must be an identifier (letters, digits, '_'), got {value!r}",
                "templates refer to it as {{ NAME.stdout }}, so it cannot contain '-' or spaces",
            )
        return value

    def condition(self, path: KeyPath, value: Any, *, allow_bool: bool) -> str | bool:
        if isinstance(value, bool):
            return value if allow_bool else ("true" if value else "false")
        self.expect(path, value, (str,), "an expression (string) or true/false")
        self.expression(path, value)
        return str(value)

    def number(self, path: KeyPath, value: Any, kind: type, minimum: float) -> Any:
        kinds: tuple[type, ...] = (int,) if kind is int else (int, float)
        what = "an integer" if kind is int else "a number"
        self.expect(path, value, kinds, f"{what} >= {minimum:g}")
        if value < minimum:
            raise self.fail(path, f"'{path[-1]}' must be >= {minimum:g}, got {value}")
        return value

    def tags(self, path: KeyPath, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
            raise self.fail(
                path,
                f"'tags' must be a string or a list of strings, got {_type_name(value)}",
                "write `tags: [extended]` or `tags: extended`",
            )
        return tuple(value)

    def env(self, path: KeyPath, value: Any) -> dict[str, str]:
        self.expect(path, value, (dict,), "a mapping of NAME: value")
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, dict | list) or item is None:
                raise self.fail(
                    (*path, key), f"env value '{key}' must be a scalar, got {_type_name(item)}"
                )
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            self.template((*path, key), text)
            out[str(key)] = text
        return out

    def check(self, path: KeyPath, value: Any, step: Mapping[str, Any]) -> Check:
        """``check:``: one kind (kubectl, minikube, command, http, testinfra, history, confirm)."""
        if isinstance(value, str):
            if value not in CHECK_SHORTHANDS:
                hint = did_you_mean(value, CHECK_SHORTHANDS) or (
                    "write `check: history`, `check: confirm` or a mapping such as "
                    "`check: {kubectl: get deployment NAME, that: result.rc == 0}`"
                )
                raise self.fail(path, f"unknown check {value!r}", hint)
            value = {value: None}
        self.expect(path, value, (dict,), "a mapping (kubectl:, testinfra:, history: ...)")
        self.keys(path, value, (*CHECK_KINDS, "that"), "check")
        kinds = [key for key in CHECK_KINDS if key in value]
        if len(kinds) != 1:
            what = "no kind" if not kinds else f"{len(kinds)} kinds ({', '.join(kinds)})"
            raise self.fail(
                path, f"check has {what}", f"give exactly one of: {', '.join(CHECK_KINDS)}"
            )
        kind = kinds[0]
        spec = value[kind]
        CHECK_SPECS[kind](self, (*path, kind), spec, step)
        that = value.get("that")
        if that is not None:
            if kind not in CHECK_CONDITIONS:
                raise self.fail(
                    (*path, "that"),
                    f"a {kind} check takes no 'that'",
                    f"'that' goes with {', '.join(CHECK_CONDITIONS)}",
                )
            self.expect((*path, "that"), that, (str,), "an expression (string)")
            self.expression((*path, "that"), that)
        return Check(kind, spec, self.doc.location(path), that)

    def check_argv(self, path: KeyPath, spec: Any, step: Mapping[str, Any]) -> None:
        self.argv_spec(path, spec)

    def check_http(self, path: KeyPath, spec: Any, step: Mapping[str, Any]) -> None:
        self.http_spec(path, spec)

    def check_testinfra(self, path: KeyPath, spec: Any, step: Mapping[str, Any]) -> None:
        self.expect(path, spec, (str,), "the name of a test in the lab's checks/")
        if self.lab_dir is None:
            return
        checks = self.lab_dir / CHECKS_DIR
        files = test_files(checks, spec)
        if len(files) == 1:
            return
        shown = f"{self.lab_dir.name}/{CHECKS_DIR}/"
        if files:
            raise self.fail(
                path,
                f"test {spec!r} is in {len(files)} files of {shown}: "
                + ", ".join(f.name for f in files),
                "give each test of the lab's checks its own name",
            )
        names = test_names(checks)
        hint = did_you_mean(spec, names) or (
            f"the tests in {shown}: {', '.join(names)}"
            if names
            else f"write a pytest-testinfra test `def {spec}(host):` in {shown}test_<name>.py"
        )
        raise self.fail(path, f"no test {spec!r} in {shown}", hint)

    def check_history(self, path: KeyPath, spec: Any, step: Mapping[str, Any]) -> None:
        if spec is None or spec is True:
            actions = [key for key in HISTORY_ACTIONS if key in step]
            if not actions:
                raise self.fail(
                    path,
                    "a history check of its own command needs a step the student types: "
                    + ", ".join(HISTORY_ACTIONS),
                    "name the words to look for: `check: {history: kubectl get pods}`",
                )
            return
        self.expect(path, spec, (str,), "the words of the command to look for (a template)")
        if not spec.strip():
            raise self.fail(path, "'history' must not be empty")
        self.template(path, spec)

    def check_confirm(self, path: KeyPath, spec: Any, step: Mapping[str, Any]) -> None:
        if spec not in (None, True):
            raise self.fail(path, "'confirm' takes no value", "write `check: confirm`")

    def explain(self, path: KeyPath, value: Any) -> dict[str, str]:
        if isinstance(value, str):
            return {"en": value}
        self.expect(path, value, (dict,), "a mapping of language: text (en, zh-TW)")
        self.keys(path, value, LANGUAGES, str(path[-1]))
        for lang, text in value.items():
            self.expect((*path, lang), text, (str,), "a string")
        return dict(value)

    # -------------------------------------------------------------- action specs

    def argv_spec(self, path: KeyPath, spec: Any) -> None:
        if isinstance(spec, list):
            if not spec:
                raise self.fail(path, f"'{path[-1]}' must not be empty")
            for index, item in enumerate(spec):
                if isinstance(item, dict | list) or item is None:
                    raise self.fail(
                        (*path, index), f"argument must be a scalar, got {_type_name(item)}"
                    )
                self.template((*path, index), item)
            return
        self.expect(path, spec, (str,), "a command (string or list of arguments)")
        if not spec.strip():
            raise self.fail(path, f"'{path[-1]}' must not be empty")
        self.template(path, spec)

    def cluster_spec(self, path: KeyPath, spec: Any) -> None:
        if spec not in CLUSTER_OPS:
            raise self.fail(
                path,
                f"unknown cluster operation {spec!r}",
                did_you_mean(str(spec), CLUSTER_OPS) or f"use one of {', '.join(CLUSTER_OPS)}",
            )

    def manifest_spec(self, path: KeyPath, spec: Any) -> None:
        if isinstance(spec, dict):
            self.keys(path, spec, MANIFEST_KEYS, "manifest")
            for key in ("diff", "server_side"):
                if key in spec:
                    self.expect((*path, key), spec[key], (bool,), "true or false")
            if "template" not in spec:
                raise self.fail(path, "'manifest' needs a 'template' (a file under templates/)")
            path, spec = (*path, "template"), spec["template"]
        self.expect(path, spec, (str,), "a template path under templates/")
        if self.templates_dir is None or "{" in spec:
            return
        from labtools.core.render import TEMPLATE_SUFFIX, environment

        self.template_file(path, spec, "manifest")
        if not spec.endswith(TEMPLATE_SUFFIX):
            return
        import jinja2

        try:
            environment(self.templates_dir).get_template(spec)
        except jinja2.TemplateSyntaxError as exc:
            file = str(self.templates_dir / spec)
            raise TemplateError(
                f"template syntax error in {spec}: {exc.message}",
                location=self.doc.location(path, key=f"{key_path(path)} ({file}:{exc.lineno})"),
            ) from exc

    def service_spec(self, path: KeyPath, spec: Any) -> None:
        self.expect(path, spec, (dict,), "a mapping (kubectl: or command:, ready:, port:)")
        self.keys(path, spec, SERVICE_KEYS, "service")
        runs = [key for key in ("kubectl", "command") if key in spec]
        if len(runs) != 1:
            raise self.fail(path, "a service needs exactly one of 'kubectl' or 'command'")
        self.argv_spec((*path, runs[0]), spec[runs[0]])
        ready = spec.get("ready")
        if ready is not None:
            self.expect((*path, "ready"), ready, (dict,), "a mapping with http: URL or tcp: PORT")
            self.keys((*path, "ready"), ready, READY_KEYS, "ready")
            if len(ready) != 1:
                raise self.fail((*path, "ready"), "'ready' needs exactly one of 'http' or 'tcp'")
        port = spec.get("port")
        if port is not None:
            self.expect((*path, "port"), port, (int, str), "a port number or a template")
        if "env" in spec:
            self.env((*path, "env"), spec["env"])
        self.templates_in(path, {k: v for k, v in spec.items() if k not in runs})

    def http_spec(self, path: KeyPath, spec: Any) -> None:
        if isinstance(spec, str):
            self.template(path, spec)
            return
        self.expect(path, spec, (dict,), "a URL or a mapping (url:, method:, status:, contains:)")
        self.keys(path, spec, HTTP_KEYS, "http")
        if "url" not in spec:
            raise self.fail(path, "'http' needs a 'url'")
        code = spec.get("status", 200)
        if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
            raise self.fail((*path, "status"), f"'status' must be an HTTP code, got {code!r}")
        headers = spec.get("headers")
        if headers is not None:
            self.expect((*path, "headers"), headers, (dict,), "a mapping of header: value")
            for key, value in headers.items():
                if isinstance(value, dict | list) or value is None:
                    raise self.fail(
                        (*path, "headers", key),
                        f"header '{key}' must be a scalar, got {_type_name(value)}",
                    )
        body = spec.get("body")
        if body is not None:
            self.expect((*path, "body"), body, (str, dict, list), "text, or a mapping/list (JSON)")
        self.templates_in(path, spec)

    def wait_spec(self, path: KeyPath, spec: Any) -> None:
        self.number(path, spec, float, 0)

    def verify_spec(self, path: KeyPath, spec: Any) -> None:
        self.expect(path, spec, (str,), "the name of the lab's checks (a string)")
        if self.lab_dir is None:
            return
        checks = self.lab_dir / CHECKS_DIR
        if (checks / f"test_{spec}.py").is_file():
            self.check_file_compiles(path, checks / f"test_{spec}.py")
            return
        names = check_names(checks)
        shown = f"{self.lab_dir.name}/{CHECKS_DIR}/test_{spec}.py"
        raise self.fail(
            path,
            f"no checks '{spec}': {shown} does not exist",
            did_you_mean(spec, names)
            or (f"checks of this lab: {', '.join(names)}" if names else None)
            or f"write {shown} (pytest-testinfra tests; `invoke lab.new` makes a lab with one)",
        )

    def check_file_compiles(self, path: KeyPath, file: Path) -> None:
        """A check file with a syntax error would only fail at the end of a run: say it now."""
        try:
            compile(file.read_text(encoding="utf-8"), str(file), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise SchemaError(
                f"checks {file.name} do not compile: {exc.msg}",
                location=Location(str(file), exc.lineno, key_path(path)),
                hint=f"the checks of {key_path(path)}, line {self.doc.line(path)} of the playbook",
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SchemaError(f"cannot read {file}: {exc}", location=Location(str(file))) from exc


SPEC_CHECKS: dict[str, Callable[[_Checker, KeyPath, Any], None]] = {
    "command": _Checker.argv_spec,
    "kubectl": _Checker.argv_spec,
    "minikube": _Checker.argv_spec,
    "cluster": _Checker.cluster_spec,
    "manifest": _Checker.manifest_spec,
    "service": _Checker.service_spec,
    "http": _Checker.http_spec,
    "wait": _Checker.wait_spec,
    "verify": _Checker.verify_spec,
}


CONTROL_CHECKS: dict[str, Callable[[_Checker, KeyPath, Any], Any]] = {
    "register": _Checker.register,
    "when": _Checker.control_condition,
    "until": _Checker.control_condition,
    "changed_when": _Checker.control_condition,
    "failed_when": _Checker.control_condition,
    "retries": _Checker.control_retries,
    "delay": _Checker.control_delay,
    "timeout": _Checker.control_timeout,
    "ignore_errors": _Checker.control_flag,
    "no_log": _Checker.control_flag,
    "interactive": _Checker.control_flag,
    "tags": _Checker.tags,
    "env": _Checker.env,
    "vars": _Checker.variables,
    "explain": _Checker.explain,
    "hint": _Checker.explain,
    "solution": _Checker.explain,
    "stdin": _Checker.control_stdin,
}


CHECK_SPECS: dict[str, Callable[[_Checker, KeyPath, Any, Mapping[str, Any]], None]] = {
    "kubectl": _Checker.check_argv,
    "minikube": _Checker.check_argv,
    "command": _Checker.check_argv,
    "http": _Checker.check_http,
    "testinfra": _Checker.check_testinfra,
    "history": _Checker.check_history,
    "confirm": _Checker.check_confirm,
}


def _default_name(action: str, spec: Any) -> str:
    if action == "manifest" and isinstance(spec, dict):
        spec = spec.get("template", "")
    text = " ".join(map(str, spec)) if isinstance(spec, list) else str(spec)
    text = " ".join(text.split())
    return f"{action} {text}"[:80] if isinstance(spec, str | list) else action


def parse_lab(
    doc: YamlDoc, *, templates_dir: Path | None = None, lab_dir: Path | None = None
) -> Lab:
    """Validate a parsed playbook and build its ``Lab``.

    Files it names are checked when the folders are given: templates under ``templates_dir``,
    checks under ``lab_dir/checks``.
    """
    checked = check_playbook(doc, templates_dir=templates_dir, lab_dir=lab_dir)
    if checked.problems:
        raise problems_error(checked.problems)
    return checked.lab


def check_playbook(
    doc: YamlDoc, *, templates_dir: Path | None = None, lab_dir: Path | None = None
) -> CheckedPlaybook:
    """Check a parsed playbook and collect every problem (``parse_lab`` raises them)."""
    checker = _Checker(doc, templates_dir, lab_dir)
    try:
        lab = checker.lab()
    except ConfigError as exc:  # not a mapping: nothing else to check
        lab = Lab(name=checker.default_name(), path=doc.file)
        checker.problems.append(exc)
    return CheckedPlaybook(
        lab=replace(lab, folder=str(lab_dir) if lab_dir else ""),
        problems=tuple(checker.problems),
        unchecked=frozenset(checker.unchecked),
        registers=frozenset(checker.registers),
    )


def problems_error(problems: Sequence[ConfigError], root: str | None = None) -> ConfigError:
    """One problem as it is; several as one error listing them all, one line each."""
    from labtools.core.errors import Problems

    return problems[0] if len(problems) == 1 else Problems(tuple(problems), root=root)


def load_lab(path: str | Path, *, templates_dir: Path | None = None) -> Lab:
    """Load and validate ``playbooks/<lab>/playbook.yml``; templates: ``<project>/templates``."""
    path = Path(path)
    lab_dir = path.resolve().parent
    if templates_dir is None:
        templates_dir = lab_dir.parent.parent / "templates"
    return parse_lab(load_yaml(path), templates_dir=templates_dir, lab_dir=lab_dir)


def check_names(checks_dir: Path) -> list[str]:
    """The names ``verify:`` accepts in a checks folder: ``test_<name>.py`` -> ``<name>``."""
    if not checks_dir.is_dir():
        return []
    return sorted(p.stem.removeprefix("test_") for p in checks_dir.glob("test_*.py"))


def test_names(checks_dir: Path) -> list[str]:
    """The test functions of a checks folder (what a ``testinfra:`` check may name)."""
    return sorted({name for path in _check_files(checks_dir) for name in _tests_in(path)})


def test_files(checks_dir: Path, name: str) -> list[Path]:
    """The files of a checks folder that define the test function ``name``."""
    return [path for path in _check_files(checks_dir) if name in _tests_in(path)]


def _check_files(checks_dir: Path) -> list[Path]:
    return sorted(checks_dir.glob("test_*.py")) if checks_dir.is_dir() else []


def _tests_in(path: Path) -> set[str]:
    return set(re.findall(r"^def (test_\w+)\(", path.read_text(encoding="utf-8"), re.MULTILINE))


def lab_description(playbooks_dir: str | Path, name: str) -> Text:
    """A lab's ``description:`` for listings; a lab that does not load says so instead."""
    try:
        return load_lab(Path(playbooks_dir) / name / PLAYBOOK).description
    except ConfigError:
        return msg("(does not load: `invoke lab.lint --lab {lab}` says why)", lab=name)


def list_labs(playbooks_dir: str | Path) -> list[str]:
    """Lab names (folders with a ``playbook.yml``) in a playbooks directory, sorted."""
    directory = Path(playbooks_dir)
    if not directory.is_dir():
        raise ConfigError(msg("playbooks directory not found: {folder}", folder=directory))
    return sorted(p.name for p in directory.iterdir() if (p / PLAYBOOK).is_file())
