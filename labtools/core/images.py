"""The container images a lab names (pure): in its rendered commands and manifests.

``invoke lab.prepare`` caches (minikube) or test-pulls (shared cluster) exactly these, collected
from the plan, never from a hand-kept list: ``kubectl create deployment --image=X``, ``kubectl
run --image X``, ``kubectl set image deployment/d c=X``, and every ``image:`` of a container in
a manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def images_in_args(args: Sequence[str]) -> list[str]:
    """Images in kubectl arguments: ``--image=X``, ``--image X``, ``set image ... c=X``."""
    found: list[str] = []
    for index, arg in enumerate(args):
        if arg.startswith("--image="):
            found.append(arg.split("=", 1)[1])
        elif arg == "--image" and index + 1 < len(args):
            found.append(args[index + 1])
    for index in range(len(args) - 1):
        if args[index] == "set" and args[index + 1] == "image":  # after kubectl's own flags
            rest = args[index + 3 :]
            found += [arg.split("=", 1)[1] for arg in rest if "=" in arg and arg[0] != "-"]
            break
    return found


def images_in_docs(docs: Iterable[Any]) -> list[str]:
    """Every container image of every object (pods, templates, cron jobs...) in manifests."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in CONTAINER_LISTS and isinstance(value, list):
                    found.extend(
                        str(c["image"]) for c in value if isinstance(c, Mapping) and c.get("image")
                    )
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for doc in docs:
        walk(doc)
    return found


def usable(image: str) -> bool:
    """A concrete reference (not a placeholder a run would fill in, not a template)."""
    return bool(image) and "<" not in image and "{" not in image and " " not in image
