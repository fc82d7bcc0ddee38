"""inventory: ranges, nesting, variable merging, defaults and --limit patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtools.core.errors import InventoryError, SchemaError
from labtools.core.inventory import (
    HOST_NAME_RULE,
    expand_hosts,
    host_name_problem,
    misspelt_setting,
    parse_inventory,
    select_hosts,
)
from labtools.core.model import Inventory
from labtools.core.yamlfile import parse_yaml


def inventory(text: str) -> Inventory:
    return parse_inventory(parse_yaml(text, "inventory.yml"))


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("plain", ["plain"]),
        ("lab-[01:03]", ["lab-01", "lab-02", "lab-03"]),
        ("lab-[1:3]", ["lab-1", "lab-2", "lab-3"]),
        ("n[8:11]", ["n8", "n9", "n10", "n11"]),
        ("n[008:010]", ["n008", "n009", "n010"]),
        ("x[0:20:5]", ["x0", "x5", "x10", "x15", "x20"]),
        ("[a:c]-node", ["a-node", "b-node", "c-node"]),
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        ("one[3:3]", ["one3"]),
    ],
)
def test_expand_hosts(pattern: str, names: list[str]) -> None:
    assert expand_hosts(pattern) == names


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a-[3:1]", "reversed"),
        ("a-[c:a]", "reversed"),
        ("a-[]", "empty"),
        ("a-[1:]", "empty"),
        ("a-[1:5:0]", "step"),
        ("a-[1:z]", "bad range"),
        ("a-[1:3", "unbalanced"),
        ("a-[0:99999999999]", "makes 100,000,000,000 hosts"),  # built every name: a hang
        ("a-[0:999][a:z]", "makes 26,000 hosts"),
    ],
)
def test_bad_ranges(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_hosts(pattern)


NESTED = """
all:
  vars: {provider: fake, level: all, only_all: 1}
  hosts:
    solo: {level: host}
  children:
    parent:
      vars: {level: parent, only_parent: 1}
      children:
        child:
          vars: {level: child}
          hosts:
            c1:
            c2: {level: host}
        b_sibling:
          vars: {level: b_sibling}
          hosts:
            c1:
    zeta:
      vars: {level: zeta}
      hosts:
        c1:
"""


@pytest.mark.parametrize(
    ("host", "level"),
    [
        ("solo", "host"),  # host vars beat all vars
        ("c2", "host"),  # host vars beat child group vars
        # c1: depth 1 zeta < depth 2 (b_sibling < child, alphabetical): child wins
        ("c1", "child"),
    ],
)
def test_group_var_precedence(host: str, level: str) -> None:
    assert inventory(NESTED).hosts[host].vars["level"] == level


def test_nested_groups_and_membership() -> None:
    inv = inventory(NESTED)
    assert inv.groups["parent"] == ("c1", "c2")
    assert inv.groups["all"] == ("solo", "c1", "c2")
    assert inv.groups["ungrouped"] == ("solo",)
    assert set(inv.hosts["c1"].groups) == {"parent", "child", "b_sibling", "zeta"}
    assert inv.hosts["c1"].vars["only_parent"] == 1
    assert inv.hosts["solo"].vars["only_all"] == 1
    assert "only_parent" not in inv.hosts["solo"].vars


def test_group_under_two_parents() -> None:
    inv = inventory(
        "all:\n  children:\n    a:\n      children:\n        shared:\n          hosts: {h: }\n"
        "    b:\n      children:\n        shared:\n"
    )
    assert inv.groups["a"] == ("h",)
    assert inv.groups["b"] == ("h",)


def test_inventory_keeps_only_what_it_says() -> None:
    # provider defaults (profile, namespace, ...) are the plan's job: applied once, lowest
    inv = inventory("all:\n  hosts:\n    h: {profile: p}\n")
    assert dict(inv.hosts["h"].vars) == {"profile": "p"}
    assert inv.hosts["h"].provider == "auto"


def test_context_provider_gets_no_kube_context_default() -> None:
    inv = inventory("all:\n  hosts:\n    h: {provider: context}\n")
    assert "kube_context" not in inv.hosts["h"].vars
    assert inv.hosts["h"].provider == "context"


def test_same_host_in_two_groups_merges() -> None:
    inv = inventory(
        "all:\n  children:\n    a:\n      hosts:\n        h: {x: 1}\n"
        "    b:\n      hosts:\n        h: {y: 2}\n"
    )
    assert inv.hosts["h"].vars["x"] == 1
    assert inv.hosts["h"].vars["y"] == 2


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("memory", "4g"),
        ("memory", "2200mb"),
        ("memory", 2048),
        ("cpus", 4),
        ("addons", "[ingress, dashboard]"),
        ("keep", "true"),
        ("kubernetes_version", "v1.32.0"),
        ("namespace", "my-lab"),
        ("my_own_var", "anything"),
        ("keys", "user var close to keep but allowed"),
    ],
)
def test_valid_settings(key: str, value: object) -> None:
    inv = inventory(f"all:\n  vars:\n    {key}: {value}\n  hosts:\n    h:\n")
    assert key in inv.hosts["h"].vars


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cpus", "0", "integer >= 1"),
        ("cpus", "two", "integer >= 1"),
        ("memory", "lots", "megabytes"),
        ("keep", "yes please", "true or false"),
        ("namespace", "Bad_NS", "DNS-1123"),
        ("addons", "ingress", "list of strings"),
        ("provider", "Kind Of", "a provider name"),
    ],
)
def test_bad_settings(key: str, value: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        inventory(f"all:\n  vars:\n    {key}: {value}\n")
    assert info.value.location is not None
    assert info.value.location.line == 3


@pytest.mark.parametrize(
    ("key", "setting"),
    [
        ("proivder", "provider"),
        ("kubernetes_verison", "kubernetes_version"),
        ("cpu", "cpus"),
        ("memroy", "memory"),
        ("namepsace", "namespace"),
        ("app_name", None),
        ("keys", None),
    ],
)
def test_misspelt_setting(key: str, setting: str | None) -> None:
    assert misspelt_setting(key) == setting


LIMIT = """
all:
  hosts:
    solo:
  children:
    web:
      hosts:
        web-[1:3]:
    prod:
      hosts:
        web-1:
        db-1:
"""


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        (None, ["solo", "web-1", "web-2", "web-3", "db-1"]),
        ("all", ["solo", "web-1", "web-2", "web-3", "db-1"]),
        ("solo", ["solo"]),
        ("web", ["web-1", "web-2", "web-3"]),
        ("web-*", ["web-1", "web-2", "web-3"]),
        ("web:db-1", ["web-1", "web-2", "web-3", "db-1"]),
        ("db-1,solo", ["solo", "db-1"]),
        ("web:&prod", ["web-1"]),
        ("web:!prod", ["web-2", "web-3"]),
        ("!web", ["solo", "db-1"]),
        ("~^web-[12]$", ["web-1", "web-2"]),
    ],
)
def test_select_hosts(pattern: str | None, names: list[str]) -> None:
    assert [h.name for h in select_hosts(inventory(LIMIT), pattern)] == names


def test_limit_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ansible's `--limit @retry_file`: one pattern per line, relative to the working directory
    (tmp_path / "hosts.txt").write_text("# the hosts that failed\nweb-2\n\ndb-1\n")
    monkeypatch.chdir(tmp_path)
    names = [h.name for h in select_hosts(inventory(LIMIT), "@hosts.txt")]
    assert names == ["web-2", "db-1"]
    assert [h.name for h in select_hosts(inventory(LIMIT), "@hosts.txt:!db-1")] == ["web-2"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    for term, says in [("@nosuch.txt", "cannot read nosuch.txt"), ("@empty.txt", "names no host")]:
        with pytest.raises(InventoryError, match=says):
            select_hosts(inventory(LIMIT), term)


def test_a_bad_regex_in_a_limit_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match="bad regular expression '\\('"):
        select_hosts(inventory(LIMIT), "~(")


@pytest.mark.parametrize(("pattern", "hint"), [("wbe", "web"), ("sol", "solo"), ("zzz", None)])
def test_unknown_pattern(pattern: str, hint: str | None) -> None:
    with pytest.raises(InventoryError, match=f"'{pattern}'") as info:
        select_hosts(inventory(LIMIT), pattern)
    assert info.value.hint is not None
    assert (hint or "known hosts") in info.value.hint


@pytest.mark.parametrize(
    "text",
    [
        # a child group overrides its parent: intended, no conflict
        "all:\n  vars: {profile: p0}\n  children:\n    a:\n      vars: {profile: p1}\n"
        "      hosts:\n        h1:\n",
        # the host says it itself
        "all:\n  children:\n    a:\n      vars: {profile: p1}\n      hosts:\n        h1:\n"
        "    b:\n      vars: {profile: p2}\n      hosts:\n        h1: {profile: p3}\n",
        # the same value from both groups
        "all:\n  children:\n    a:\n      vars: {profile: p1}\n      hosts:\n        h1:\n"
        "    b:\n      vars: {profile: p1}\n      hosts:\n        h1:\n",
        # user variables follow Ansible's group order, as before
        "all:\n  children:\n    a:\n      vars: {color: red}\n      hosts:\n        h1:\n"
        "    b:\n      vars: {color: blue}\n      hosts:\n        h1:\n",
    ],
    ids=["child-overrides-parent", "host-decides", "same-value", "user-var"],
)
def test_groups_that_agree_or_are_related_are_no_conflict(text: str) -> None:
    inventory = parse_inventory(parse_yaml(text, "inventory.yml"))
    assert "h1" in inventory.hosts


@pytest.mark.parametrize("name", ["a", "lab-01", "0", "x" * 63, "team-a1"])
def test_host_names_that_follow_the_rule(name: str) -> None:
    assert host_name_problem(name) is None


@pytest.mark.parametrize("name", ["Lab_01", "lab_01", "-a", "a-", "a.b", "x" * 64, "é", "a b"])
def test_host_names_that_break_the_rule(name: str) -> None:
    assert HOST_NAME_RULE in (host_name_problem(name) or "")
