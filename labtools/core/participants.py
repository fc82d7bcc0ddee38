"""Workshop participants: a display name per host, optionally from a list file (participants.csv).

Each host is one participant. Its ``participant`` variable (default: the host name) is the name
cards and summaries show. An inventory var ``participants_file`` names a CSV file (relative to
the inventory) with a header row:

    name,host,email          # `name` required; `host` optional; any other column is a variable
    Alice Chen,lab-01,alice@example.org
    Bob Li,lab-02,

Without a ``host`` column the names go to the hosts that read the file, in inventory order.
Blank lines and lines starting with ``#`` are skipped. Every mistake names the file and line.
A value from the file sits with the host's own vars; the inventory setting the same key on that
host too is an error (one place per fact).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from labtools.core.errors import InventoryError, Location
from labtools.core.messages import msg, msgn
from labtools.core.model import Host, Inventory
from labtools.core.yamlfile import did_you_mean

FILE_VAR = "participants_file"
NAME_COLUMNS = ("name", "participant")  # either header names the display name
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Row:
    """One participant line: its line number and its values by column."""

    line: int
    values: Mapping[str, str]


def parse_rows(text: str, path: str) -> tuple[list[str], list[Row]]:
    """The header's columns and the data rows (line numbers kept), checked for shape."""
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise InventoryError(
            msg("the participants file is empty"),
            location=Location(path, 1),
            hint=msg("write a header row first: name,host"),
        )
    header_line, header = lines[0]
    columns = [cell.strip() for cell in next(csv.reader(io.StringIO(header)))]
    check_header(columns, path, header_line)
    rows = []
    for number, line in lines[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) > len(columns):
            raise InventoryError(
                msg(
                    "{values} values but the header has {columns} columns",
                    values=len(cells),
                    columns=len(columns),
                ),
                location=Location(path, number),
                hint=msg('quote a value that holds a comma: "Chen, Alice"'),
            )
        values = {
            col: (cells[i].strip() if i < len(cells) else "") for i, col in enumerate(columns)
        }
        rows.append(Row(number, values))
    return columns, rows


def check_header(columns: Sequence[str], path: str, line: int) -> None:
    """A ``name`` column, no duplicate or empty column, every column a variable name."""
    seen: set[str] = set()
    for column in columns:
        if not _VARIABLE.match(column):
            raise InventoryError(
                msg("column {column!r} is not a variable name", column=column),
                location=Location(path, line),
                hint=msg("columns become variables: letters, digits and _ (email, team, seat)"),
            )
        if column in seen:
            raise InventoryError(
                msg("column {column!r} twice", column=column), location=Location(path, line)
            )
        seen.add(column)
    if not any(name in seen for name in NAME_COLUMNS):
        close = next((c for c in columns if did_you_mean(c, NAME_COLUMNS)), None)
        hint = (
            msg("did you mean 'name' (not {close!r})?", close=close)
            if close
            else msg("the header is: name,host")
        )
        raise InventoryError(
            msg("no 'name' column (columns: {columns})", columns=", ".join(columns)),
            location=Location(path, line),
            hint=hint,
        )


def assign(
    columns: Sequence[str], rows: Sequence[Row], hosts: Sequence[str], path: str
) -> dict[str, tuple[Row, dict[str, str]]]:
    """Host -> (its row, its variables): by the ``host`` column, else in order."""
    name_column = next(name for name in NAME_COLUMNS if name in columns)
    assigned: dict[str, tuple[Row, dict[str, str]]] = {}
    for index, row in enumerate(rows):
        name = row.values[name_column]
        if not name:
            raise InventoryError(
                msg("a participant without a name"), location=Location(path, row.line)
            )
        host = row_host(row, index, hosts, path)
        if host in assigned:
            first = assigned[host][0].line
            raise InventoryError(
                msg("host {host} already has a participant (line {first})", host=host, first=first),
                location=Location(path, row.line),
                hint=msg("one line per host"),
            )
        values = {k: v for k, v in row.values.items() if k not in ("host", name_column) and v}
        assigned[host] = (row, {"participant": name, **values})
    return assigned


def row_host(row: Row, index: int, hosts: Sequence[str], path: str) -> str:
    """The host a row is for (its ``host`` cell, or the index-th host)."""
    if "host" not in row.values:
        if index >= len(hosts):
            raise InventoryError(
                msgn(
                    "participant {index} but only {n} host reads this file",
                    "participant {index} but only {n} hosts read this file",
                    len(hosts),
                    index=index + 1,
                ),
                location=Location(path, row.line),
                hint=msg("add hosts to the inventory (lab-[01:40]) or give rows a host column"),
            )
        return hosts[index]
    host = row.values["host"]
    if host not in hosts:
        close = did_you_mean(host, hosts)
        raise InventoryError(
            msg("unknown host {host!r}", host=host) if host else msg("a row without a host"),
            location=Location(path, row.line),
            hint=close
            or msg("hosts that read this file: {hosts}", hosts=", ".join(hosts) or msg("none")),
        )
    return host


def attach_participants(inventory: Inventory) -> Inventory:
    """The inventory with each ``participants_file``'s names and columns set on its hosts."""
    readers: dict[str, list[Host]] = {}
    for host in inventory.hosts.values():
        name = host.vars.get(FILE_VAR)
        if name:
            readers.setdefault(str(name), []).append(host)
    if not readers:
        return inventory
    hosts = dict(inventory.hosts)
    base = Path(inventory.path).parent
    for name, readers_of in readers.items():
        path = Path(name).expanduser()
        path = path if path.is_absolute() else base / path
        where = readers_of[0].var_sources.get(FILE_VAR)
        text = read_file(path, where)
        columns, rows = parse_rows(text, str(path))
        names = [host.name for host in readers_of]
        for host_name, (row, values) in assign(columns, rows, names, str(path)).items():
            hosts[host_name] = with_values(hosts[host_name], values, Location(str(path), row.line))
    return replace(inventory, hosts=hosts)


def read_file(path: Path, where: Location | None) -> str:
    """The file's text; a missing file is an error at the var that names it."""
    try:
        return path.read_text(encoding="utf-8-sig")  # spreadsheets write a BOM
    except OSError as exc:
        raise InventoryError(
            msg("participants file {path}: {reason}", path=path, reason=exc.strerror or exc),
            location=where,
            hint=msg("`{var}` is relative to the inventory file", var=FILE_VAR),
        ) from exc


def with_values(host: Host, values: Mapping[str, str], where: Location) -> Host:
    """``host`` with the file's values; a key its own inventory entry sets is an error."""
    own = _own_keys(host)
    for key in values:
        if key in own:
            place = host.var_sources.get(key) or host.source
            raise InventoryError(
                msg(
                    "{key} of host {host} is set twice: here and at {place}",
                    key=key,
                    host=host.name,
                    place=place,
                ),
                location=where,
                hint=msg("keep it in one place"),
            )
    sources = {**host.var_sources, **dict.fromkeys(values, where)}
    merged: dict[str, Any] = {**host.vars, **values}
    return replace(host, vars=merged, var_sources=sources)


def _own_keys(host: Host) -> set[str]:
    """The vars the host's own inventory entry sets (not one of its groups' ``vars:``)."""
    own = set()
    for key, loc in host.var_sources.items():
        parts = (loc.key or "").split(".")
        if len(parts) >= 2 and parts[-2] != "vars":
            own.add(key)
    return own
