"""The read and lifecycle commands: version, status, profile, stop, delete, ip, update-context."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from labtools.testing.minikube import common, kubeconfig, state
from labtools.testing.minikube.common import Invocation
from labtools.testing.minikube.console import (
    DELETE_STEPS,
    MK_OUTPUT_USAGE,
    MK_USAGE,
    MK_USAGE_NO_PROFILE,
    STOP_STEPS,
)
from labtools.testing.minikube.version import MINIKUBE_COMMIT, MINIKUBE_VERSION

STATUS_FIELDS = ("Name", "Host", "Kubelet", "APIServer", "Kubeconfig", "Worker")


def version(inv: Invocation) -> int:
    """`minikube version [-o json|yaml] [--short]`."""
    output = inv.flag("output") or ""
    if inv.flag("short"):
        inv.console.line(MINIKUBE_VERSION)
        return 0
    data = {"commit": MINIKUBE_COMMIT, "minikubeVersion": MINIKUBE_VERSION}
    if output == "json":
        inv.console.line(json.dumps(data, separators=(",", ":")))
    elif output == "yaml":
        inv.console.line(f"commit: {MINIKUBE_COMMIT}\nminikubeVersion: {MINIKUBE_VERSION}")
    elif output:
        raise inv.console.fail(MK_OUTPUT_USAGE, "error: --output must be 'yaml' or 'json'")
    else:
        inv.console.line(f"minikube version: {MINIKUBE_VERSION}\ncommit: {MINIKUBE_COMMIT}")
    return 0


def node_status(name: str) -> dict[str, Any]:
    """The Status struct of the profile's only node."""
    if not (state.minikube_home() / "machines" / name).is_dir():
        # no machine yet (`start --download-only` saved only the config): status.go returns
        # its initial struct, every field "Nonexistent", when machine.Status is state.None
        return dict(zip(STATUS_FIELDS, (name, *["Nonexistent"] * 4, False), strict=True))
    if state.running_pid(name) is None:
        return dict(zip(STATUS_FIELDS, (name, *["Stopped"] * 4, False), strict=True))
    kube = common.kubeconfig_state(name)
    return dict(
        zip(STATUS_FIELDS, (name, "Running", "Running", "Running", kube, False), strict=True)
    )


def status_exit_code(st: dict[str, Any]) -> int:
    """The bitmask: 1 host not running, 2 cluster not OK, 4 kubeconfig not configured."""
    code = 0 if st["Host"] == "Running" else 1
    if st["APIServer"] not in ("Running", "Irrelevant") or st["Kubelet"] != "Running":
        code |= 2
    if st["Kubeconfig"] not in ("Configured", "Irrelevant"):
        code |= 4
    return code


def status(inv: Invocation) -> int:
    """`minikube status [-o json] [-f template]`."""
    output, template = inv.flag("output"), inv.flag("format")
    if "output" in inv.parsed.given and template:
        raise inv.console.fail(MK_USAGE, "Cannot use both --output and --format options")
    if output not in ("text", "json"):
        raise inv.console.fail(
            MK_USAGE, f"invalid output format: {output}. Valid values: 'text', 'json'"
        )
    common.require_config(inv)
    st = node_status(inv.profile)
    if output == "json":
        inv.console.out.write(json.dumps(st, separators=(",", ":")))
        inv.console.out.flush()
    elif template:
        inv.console.out.write(render_template(template, st))
        inv.console.out.flush()
    else:
        _status_text(inv, st)
    return status_exit_code(st)


def _status_text(inv: Invocation, st: dict[str, Any]) -> None:
    lines = [
        st["Name"],
        "type: Control Plane",
        f"host: {st['Host']}",
        f"kubelet: {st['Kubelet']}",
        f"apiserver: {st['APIServer']}",
        f"kubeconfig: {st['Kubeconfig']}",
        "",
    ]
    inv.console.line("\n".join(lines))
    if st["Kubeconfig"] == "Misconfigured":
        inv.console.line(
            "WARNING: Your kubectl is pointing to stale minikube-vm.\n"
            "To fix the kubectl context, run `minikube update-context`"
        )


def render_template(template: str, values: dict[str, Any]) -> str:
    """The ``{{.Field}}`` subset of Go templates that status formats use."""
    template = template.encode().decode("unicode_escape") if "\\n" in template else template

    def field(m: re.Match[str]) -> str:
        value = values.get(m.group(1), "")
        return str(value).lower() if isinstance(value, bool) else str(value)

    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", field, template)


def profile_status(name: str) -> str:
    """v1.35+ profile Status: the cluster state name (``OK`` when running)."""
    return "OK" if state.running_pid(name) is not None else "Stopped"


def profiles_json() -> dict[str, list[dict[str, Any]]]:
    """The {"invalid": [...], "valid": [...]} body of `profile list -o json`."""
    active = common.active_profile()
    current = kubeconfig.current_context(kubeconfig.kubeconfig_path())
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for name in state.profile_names():
        config = state.load_config(name)
        entry = {
            "Name": name,
            "Status": profile_status(name) if config else "",
            "Config": config,
            "Active": name == active,
            "ActiveKubeContext": name == current,
        }
        (valid if config else invalid).append(entry)
    return {"invalid": invalid, "valid": valid}


def profile(inv: Invocation) -> int:
    """`minikube profile list [-o json]` and `minikube profile NAME`."""
    args = inv.parsed.args
    if not args:
        inv.console.line(common.active_profile())
        return 0
    if args[0] != "list":
        common.set_active_profile(args[0])
        inv.console.styled("check", f"minikube profile was successfully set to {args[0]}")
        return 0
    body = profiles_json()
    output = inv.flag("output") or "table"
    if output == "json":
        inv.console.out.write(json.dumps(body, separators=(",", ":")))
        inv.console.out.flush()
        return 0
    if output != "table":
        raise inv.console.fail(
            MK_USAGE, f"invalid output format: {output}. Valid values: 'table', 'json'"
        )
    if not body["valid"]:
        raise inv.console.fail(MK_USAGE_NO_PROFILE, "No minikube profile was found.")
    inv.console.line(_profile_table(body["valid"]))
    return 0


def _profile_table(profiles: list[dict[str, Any]]) -> str:
    headers = [
        "Profile",
        "Driver",
        "Runtime",
        "IP",
        "Version",
        "Status",
        "Nodes",
        "Active Profile",
        "Active Kubecontext",
    ]
    rows = []
    for p in profiles:
        cfg = p["Config"]
        node = cfg["Nodes"][0]
        rows.append(
            [
                p["Name"],
                cfg["Driver"],
                cfg["KubernetesConfig"]["ContainerRuntime"],
                node["IP"],
                cfg["KubernetesConfig"]["KubernetesVersion"],
                p["Status"],
                str(len(cfg["Nodes"])),
                "*" if p["Active"] else "",
                "*" if p["ActiveKubeContext"] else "",
            ]
        )
    return common.box_table(headers, rows)


def stop(inv: Invocation) -> int:
    """`minikube stop [--all] [--keep-context-active]`."""
    names = state.profile_names() if inv.flag("all") else [inv.profile]
    stopped = 0
    for name in names:
        sub = Invocation(inv.command, inv.parsed, name, inv.console)
        inv.console.steps, inv.console.current = STOP_STEPS, 0
        config = common.require_config(sub)
        inv.console.step("Stopping", "stop", f'Stopping node "{name}"  ...')
        if config["Driver"] in ("docker", "podman"):
            inv.console.step("PowerOff", "stopped", f'Powering off "{name}" via SSH ...')
        state.stop_server(name)
        if not inv.flag("keep-context-active"):
            kubeconfig.remove(kubeconfig.kubeconfig_path(), name)
        stopped += 1
        inv.console.save_events(state.profile_dir(name) / "events.json")
    inv.console.step("Done", "stopped", f"{stopped} node{'s' if stopped != 1 else ''} stopped.")
    return 0


def delete(inv: Invocation) -> int:
    """`minikube delete [-p X] [--all] [--purge]`."""
    if inv.parsed.args:
        raise inv.console.fail(MK_USAGE, "Usage: minikube delete")
    inv.console.steps = DELETE_STEPS
    if inv.flag("all"):
        for name in state.profile_names():
            _delete_profile(inv, name)
        inv.console.step("Deleting", "fire", "Successfully deleted all profiles")
    else:
        if inv.flag("purge") and len(state.profile_names()) > 1:
            inv.console.line("Multiple minikube profiles were found - ")
            for name in state.profile_names():
                inv.console.line(f"\t{name}")
            raise inv.console.fail(MK_USAGE, "Usage: minikube delete --all --purge")
        _delete_profile(inv, inv.profile)
    if inv.flag("purge"):
        home = state.minikube_home()
        shutil.rmtree(home, ignore_errors=True)
        inv.console.step(
            "Puring home dir",
            "skull",
            f"Successfully purged minikube directory located at - [{home}]",
        )
    return 0


def _delete_profile(inv: Invocation, name: str) -> None:
    con = inv.console
    config = state.load_config(name)
    if config is None and not state.profile_dir(name).exists():
        con.err_styled("meh", f'"{name}" profile does not exist, trying anyways.')
    else:
        driver = (config or {}).get("Driver", "docker")
        con.step("Deleting", "fire", f'Deleting "{name}" in {driver} ...')
        state.stop_server(name)
        if driver in ("docker", "podman"):
            con.step("Deleting", "fire", f'Deleting container "{name}" ...')
        machine = state.minikube_home() / "machines" / name
        con.step("Deleting", "fire", f"Removing {machine} ...")
        shutil.rmtree(machine, ignore_errors=True)
    shutil.rmtree(state.profile_dir(name), ignore_errors=True)
    kubeconfig.remove(kubeconfig.kubeconfig_path(), name)
    if common.active_profile() == name and name != common.DEFAULT_PROFILE:
        common.set_active_profile(None)
    con.step("Done", "skull", f'Removed all traces of the "{name}" cluster.')


def ip(inv: Invocation) -> int:
    """`minikube ip`: the node IP of a running profile."""
    config = common.require_running(inv)
    inv.console.line(str(config["Nodes"][0]["IP"]))
    return 0


def update_context(inv: Invocation) -> int:
    """`minikube update-context`: point the kubeconfig entry back at the running server."""
    from labtools.testing.minikube.start import kubeconfig_entry

    common.require_running(inv)
    url = state.server_url(inv.profile) or ""
    path = kubeconfig.kubeconfig_path()
    if kubeconfig.server_of(path, inv.profile) == url:
        inv.console.styled("meh", f'No changes required for the "{inv.profile}" context')
    else:
        config = state.load_config(inv.profile) or {}
        namespace = str(config.get("KubernetesConfig", {}).get("Namespace") or "default")
        kubeconfig.upsert(path, kubeconfig_entry(inv.profile, namespace), make_current=True)
        host_port = url.removeprefix("https://")
        inv.console.styled(
            "celebrate", f'"{inv.profile}" context has been updated to point to {host_port}'
        )
    inv.console.styled("kubectl", f'Current context is "{kubeconfig.current_context(path)}"')
    return 0
