"""A lab project on disk: inventory, playbooks/<lab>/ and templates/ under one root.

inventory.yml                    the clusters (hosts) and their variables
playbooks/<lab>/playbook.yml     the lab's steps
playbooks/<lab>/checks/test_*.py its pytest-testinfra checks (`verify: <name>`)
playbooks/<lab>/README.md        what the lab is, and the tutorial it follows
templates/<lab>/...              its manifests (*.yaml.j2) and command snippets
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labtools.core.errors import ConfigError, Location
from labtools.core.messages import msg
from labtools.core.model import Inventory, Lab

DEFAULT_INVENTORY = "inventory.yml"


@dataclass(frozen=True)
class Project:
    """The loaded inventory and lab of a project root, and where its files live."""

    root: Path
    inventory: Inventory
    lab: Lab
    templates_dir: Path
    playbooks_dir: Path

    @classmethod
    def load(cls, root: Path, lab: str | None, inventory: str | None) -> Project:
        """Load ``inventory`` (default inventory.yml) and ``playbooks/<lab>/playbook.yml``."""
        from labtools.core.inventory import load_inventory
        from labtools.core.playbook import load_lab

        root = Path(root).resolve()
        playbooks_dir = root / "playbooks"
        templates_dir = root / "templates"
        playbook = lab_path(playbooks_dir, lab)
        inventory_file = inventory_path(root, inventory)
        return cls(
            root=root,
            inventory=load_inventory(inventory_file),
            lab=load_lab(playbook, templates_dir=templates_dir),
            templates_dir=templates_dir,
            playbooks_dir=playbooks_dir,
        )


def inventory_path(root: Path, inventory: str | None) -> Path:
    """The inventory file (relative paths are under ``root``); a missing one is a ConfigError."""
    path = Path(inventory or DEFAULT_INVENTORY).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise ConfigError(
            msg("inventory file not found: {path}", path=path),
            location=Location(str(path)),
            hint=msg(
                "create {file} (an `all:` group with hosts) or pass --inventory",
                file=DEFAULT_INVENTORY,
            ),
        )
    return path


def lab_path(playbooks_dir: Path, lab: str | None) -> Path:
    """``playbooks/<lab>/playbook.yml``; no lab given means the only lab there is."""
    from labtools.core.playbook import PLAYBOOK, list_labs
    from labtools.core.yamlfile import did_you_mean

    labs = list_labs(playbooks_dir) if playbooks_dir.is_dir() else []
    if lab is None:
        if len(labs) == 1:
            lab = labs[0]
        else:
            raise ConfigError(
                msg("which lab? pass --lab NAME"),
                hint=msg(
                    "labs in {folder}: {labs}",
                    folder=playbooks_dir,
                    labs=", ".join(labs) or msg("none"),
                ),
            )
    path = playbooks_dir / lab / PLAYBOOK
    if path.is_file():
        return path
    for suffix in (".yml", ".yaml"):
        flat = playbooks_dir / f"{lab}{suffix}"
        if flat.is_file():  # the layout before labs became folders
            raise ConfigError(
                msg(
                    "lab '{lab}' is a single file ({file}); a lab is a folder now",
                    lab=lab,
                    file=flat,
                ),
                location=Location(str(flat)),
                hint=msg(
                    "move it to {playbook} (its checks go to {checks}/)",
                    playbook=path,
                    checks=path.parent / "checks",
                ),
            )
    close = did_you_mean(lab, labs)
    listing = (
        msg("labs: {labs}", labs=", ".join(labs))
        if labs
        else msg("no playbooks in {folder}", folder=playbooks_dir)
    )
    raise ConfigError(
        msg("unknown lab '{lab}' (no {file})", lab=lab, file=path),
        location=Location(str(playbooks_dir)),
        hint=msg("{close} ({listing})", close=close, listing=listing) if close else listing,
    )
