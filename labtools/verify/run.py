"""The argv that runs a lab's checks with pytest: a short command a user can paste into CI.

    pytest -p labtools.verify.plugin --lab basics --lab-inventory inventory.yml --lab-hosts basics
      -q -p no:cacheprovider -c /dev/null --rootdir . playbooks/basics/checks/test_basics.py

It runs in the project root. The checks get the lab's variables by loading the same project and
plan as the run (``labtools.app.check_targets``), not through the command line: only ``--set``
values (``--lab-set``) travel on it, and never the lab's ``secrets:``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PLUGIN = "labtools.verify.plugin"
PYTEST = (sys.executable, "-m", "pytest")
SHOWN_AS = ("pytest",)  # how the command is displayed: pytest of the Python labtools runs on


def verify_command(
    root: str | os.PathLike[str],
    *,
    lab: str | None,
    checks: Sequence[str | os.PathLike[str]],
    inventory: str | os.PathLike[str] | None = None,
    hosts: str | Sequence[str] | None = None,
    sets: Mapping[str, Any] | None = None,
    proxy_url: str | Mapping[str, str] | None = None,
    junit: str | os.PathLike[str] | None = None,
    extra: Sequence[str] = (),
) -> tuple[str, ...]:
    """``<python> -m pytest -p labtools.verify.plugin --lab LAB ... CHECKS``, to run in ``root``.

    ``proxy_url``: one URL for every host, or each host's own (``--lab-proxy-url HOST=URL``).
    """
    base = Path(root).resolve()
    argv = [*PYTEST, "-p", PLUGIN]
    if lab:
        argv += ["--lab", lab]
    if inventory is not None:
        argv += ["--lab-inventory", _relative(inventory, base)]
    pattern = hosts if isinstance(hosts, str) or hosts is None else ",".join(hosts)
    if pattern:
        argv += ["--lab-hosts", pattern]
    for key, value in (sets or {}).items():
        argv += ["--lab-set", f"{key}={set_text(value)}"]
    if isinstance(proxy_url, str) and proxy_url:
        argv += ["--lab-proxy-url", proxy_url]
    elif isinstance(proxy_url, Mapping):
        for host, url in proxy_url.items():
            argv += ["--lab-proxy-url", f"{host}={url}"]
    # -c /dev/null: the project's own pytest configuration is for its tests, not the lab's checks;
    # --confcutdir .: no conftest.py above the project counts, and collection does not look at
    # every entry of every folder above it (with -c /dev/null pytest would, from /)
    argv += [
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        os.devnull,
        "--rootdir",
        ".",
        "--confcutdir",
        ".",
    ]
    if junit is not None:
        argv += ["--junitxml", _relative(junit, base)]
    argv += [_relative(path, base) for path in checks]
    return (*argv, *extra)


def shown(argv: Sequence[str]) -> tuple[str, ...]:
    """The command as a user reads it: ``pytest ...`` instead of ``<python> -m pytest ...``."""
    if tuple(argv[: len(PYTEST)]) == PYTEST:
        return (*SHOWN_AS, *argv[len(PYTEST) :])
    return tuple(argv)


def set_text(value: Any) -> str:
    """A value as ``--lab-set KEY=TEXT`` so that reading TEXT back gives the same value."""
    from labtools.core.options import parse_typed_sets

    if isinstance(value, str) and parse_typed_sets([f"v={value}"])["v"] == value:
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _relative(path: str | os.PathLike[str], root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it (shorter to read and to paste)."""
    full = Path(path) if Path(path).is_absolute() else root / path
    try:
        return str(full.resolve().relative_to(root))
    except ValueError:
        return str(full)


def split_junit(text: str, hosts: Sequence[str], property_name: str) -> dict[str, str]:
    """One pytest JUnit XML document per host, from a session that checked several hosts.

    A testcase belongs to the host its ``property_name`` property names (the plugin's
    ``lab_host``); a testcase of no host (a test using no host fixture) belongs to every host.
    Each document's testsuite counts (tests, failures, errors, skipped, time) are its own.
    """
    from xml.etree import ElementTree as ET

    root = ET.fromstring(text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    found: dict[str, str] = {}
    for host in hosts:
        out = ET.Element(root.tag, dict(root.attrib))
        for suite in suites:
            mine = [
                c
                for c in suite
                if c.tag != "testcase" or _host_of(c, property_name) in (host, None)
            ]
            target = out if suite is root else ET.SubElement(out, suite.tag)
            target.attrib.update(_counted(suite.attrib, [c for c in mine if c.tag == "testcase"]))
            target.extend(mine)
        found[host] = ET.tostring(out, encoding="unicode")
    return found


def _host_of(case: Any, property_name: str) -> str | None:
    """The host a JUnit testcase names in its properties, or None."""
    for prop in case.iter("property"):
        if prop.get("name") == property_name:
            return str(prop.get("value"))
    return None


def _counted(attrib: Mapping[str, str], cases: Sequence[Any]) -> dict[str, str]:
    """A testsuite's attributes with the counts of ``cases``."""

    def count(*tags: str) -> int:
        return sum(1 for c in cases if any(c.find(tag) is not None for tag in tags))

    return {
        **attrib,
        "tests": str(len(cases)),
        "failures": str(count("failure")),
        "errors": str(count("error")),
        "skipped": str(count("skipped")),
        "time": f"{sum(float(c.get('time') or 0) for c in cases):.3f}",
    }
