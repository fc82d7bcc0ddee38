"""The kubelet's image manager: which images pull, and the ErrImagePull / ImagePullBackOff cycle.

Which images the fake can "pull": every well-formed reference (a registry with every image),
except

* the bootcamp's ``v10`` tag (``kubernetes-bootcamp:v10``, the tutorial's broken update),
* a name containing ``does-not-exist`` or ``nonexistent``, and those listed in
  ``LABTOOLS_FAKE_MISSING_IMAGES`` (comma-separated),
* images matched by an injected ``image-pull`` fault (``faults.py``),

and a reference that does not parse is ``InvalidImageName`` (no pull at all). Failing images
never pull by design, so a lab sees the same states, texts and timing a real kubelet shows:

``pkg/kubelet/images/image_manager.go`` (v1.32): a failed pull records ``Failed`` "Failed to pull
image ..." and starts or doubles the image back-off (10 s to 5 min, ``backoff.py``); the
container waits with reason ``ErrImagePull`` and the runtime's message; syncs inside the back-off
say ``BackOff`` "Back-off pulling image" and wait with ``ImagePullBackOff`` and the message
``Back-off pulling image "X": ErrImagePull: <the last pull error>`` (kubernetes PR #127918);
``pkg/kubelet/kuberuntime/kuberuntime_container.go`` adds ``Failed`` "Error: <reason>" each time.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import resources as R
from .apps import _split_image as split_image  # (repository, tag), `latest` when untagged
from .store import Obj

if TYPE_CHECKING:
    from .controllers import Controllers

MISSING_IMAGES_ENV = "LABTOOLS_FAKE_MISSING_IMAGES"
# the pod worker's retry period after a failed sync (pod_workers.go backOffPeriod)
RESYNC = 10.0
# how soon after a failed pull the next sync sees the back-off (status update + PLEG event)
AFTER_FAILURE = 1.0

# distribution/reference's grammar (reference.go / regexp.go), anchored
_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_COMPONENT}(?:\.{_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_REFERENCE = re.compile(
    rf"^{_NAME}(?::[\w][\w.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
    r":[0-9a-fA-F]{32,})?$"
)
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


def invalid_reference(image: str) -> str | None:
    """Why ``image`` does not parse (distribution/reference normalize.go), or None."""
    if _HEX64.match(image):
        return f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings"
    domain, sep, rest = image.partition("/")
    # splitDockerDomain: a first part without "." or ":" that is lowercase is a path, not a host
    if not sep or (
        not any(c in domain for c in ".:") and domain != "localhost" and domain.islower()
    ):
        remote = image if sep else f"library/{image}"
    else:
        remote = rest
    remote = remote.split("@", 1)[0].split(":", 1)[0]
    if remote.lower() != remote:
        return f"invalid reference format: repository name ({remote}) must be lowercase"
    return None if _REFERENCE.match(image) else "invalid reference format"


def image_missing(image: str) -> bool:
    """Images that never pull: unknown bootcamp tags, the marker names, the env's list."""
    listed = {i.strip() for i in os.environ.get(MISSING_IMAGES_ENV, "").split(",") if i.strip()}
    if image in listed:
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag (`does-not-exist/x`) or a registry port (`host:5000/x`)
        name, tag = image, ""
    return (
        (name.endswith("kubernetes-bootcamp") and tag == "v10")
        or "does-not-exist" in image
        or "nonexistent" in image
    )


def not_found_message(image: str) -> str:
    """The docker daemon's answer (through cri-dockerd) for a tag the registry does not have."""
    repo, tag = split_image(image)
    return (
        f"Error response from daemon: manifest for {repo}:{tag} not found: manifest unknown: "
        "manifest unknown"
    )


def denied_message(image: str) -> str:
    """The docker daemon's answer for a repository that does not exist (or needs a login)."""
    repo, _ = split_image(image)
    return (
        f"Error response from daemon: pull access denied for {repo}, repository does not exist "
        "or may require 'docker login': denied: requested access to the resource is denied"
    )


def _matches(spec: dict[str, str], image: str, pod: Obj) -> bool:
    meta = pod["metadata"]
    return (
        fnmatch.fnmatchcase(image, spec.get("image", "*"))
        and fnmatch.fnmatchcase(meta["name"], spec.get("pod", "*"))
        and fnmatch.fnmatchcase(meta["namespace"], spec.get("namespace", "*"))
    )


def pull_error(ctl: Controllers, image: str, pod: Obj) -> str | None:
    """The error of pulling ``image`` for ``pod`` now (one use of a matching fault), or None."""
    for fault in ctl.faults.pod_faults("image-pull"):
        if _matches(fault.spec, image, pod):
            ctl.faults.use(fault)
            if fault.spec.get("message"):
                return str(fault.spec["message"])
            if fault.spec.get("reason") == "denied":
                return denied_message(image)
            return not_found_message(image)
    return not_found_message(image) if image_missing(image) else None


@dataclass
class Waiting:
    """Why one container cannot start yet: its waiting reason and message."""

    reason: str
    message: str


class ImageManager:
    """Per pod and image: pull, or wait out the back-off of the last failed pull."""

    def __init__(self, ctl: Controllers) -> None:
        self.ctl = ctl
        self.errors: dict[str, str] = {}  # back-off key -> "ErrImagePull: <message>"

    def ensure(self, pod: Obj, container: Obj, now: float) -> Waiting | None:
        """None when the container's image is there; else why it waits (events recorded)."""
        ctl, image = self.ctl, container.get("image", "")
        fp = f"spec.containers{{{container['name']}}}"
        bad = invalid_reference(image)
        if bad is not None:
            msg = (
                f'Failed to apply default image tag "{image}": '
                f'couldn\'t parse image name "{image}": {bad}'
            )
            ctl.event(pod, "Warning", "InspectFailed", msg, "kubelet", fp)
            return self._failed(pod, fp, "InvalidImageName", msg)
        key = f"{pod['metadata']['uid']}_{image}"
        if ctl.image_backoff.in_backoff_since_update(key, now):
            ctl.event(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', "kubelet", fp)
            msg = f'Back-off pulling image "{image}"'
            if key in self.errors:
                msg = f"{msg}: {self.errors[key]}"
            return self._failed(pod, fp, "ImagePullBackOff", msg)
        if key in ctl.image_backoff.entries:  # a retry: the kubelet says it pulls again
            ctl.event(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet", fp)
        error = pull_error(ctl, image, pod)
        if error is None:
            self.errors.pop(key, None)
            return None
        ctl.event(
            pod, "Warning", "Failed", f'Failed to pull image "{image}": {error}', "kubelet", fp
        )
        ctl.image_backoff.next(key, now)
        self.errors[key] = f"ErrImagePull: {error}"
        return self._failed(pod, fp, "ErrImagePull", error)

    def _failed(self, pod: Obj, fp: str, reason: str, message: str) -> Waiting:
        self.ctl.event(pod, "Warning", "Failed", f"Error: {reason}", "kubelet", fp)
        return Waiting(reason, message)

    def next_sync(self, pod: Obj, waiting: dict[str, Waiting], now: float) -> float:
        """When the kubelet looks at this pod again (seconds from now, scaled)."""
        scale = self.ctl.image_backoff.scale
        if any(w.reason == "ErrImagePull" for w in waiting.values()):
            return AFTER_FAILURE * min(scale, 1.0)
        dues = []
        for c in pod["spec"].get("containers") or []:
            due = self.ctl.image_backoff.due(f"{pod['metadata']['uid']}_{c.get('image', '')}")
            if due is not None and due > now:
                dues.append(due - now)
        return min([RESYNC * scale, *dues]) if dues else RESYNC * scale

    def prune(self, live_uids: set[str]) -> None:
        """Forget back-offs of pods that are gone."""
        keep = {k for k in self.ctl.image_backoff.entries if k.split("_", 1)[0] in live_uids}
        self.ctl.image_backoff.prune(keep)
        self.errors = {k: v for k, v in self.errors.items() if k in keep}


def wait_images(ctl: Controllers, pod: Obj, key: str) -> bool:
    """Pull the pod's images; False (status, events and the next sync set) when one cannot."""
    now = time.monotonic()
    waiting: dict[str, Waiting] = {}
    for container in pod["spec"].get("containers") or []:
        why = ctl.images.ensure(pod, container, now)
        if why is not None:
            waiting[container["name"]] = why
    if not waiting:
        return True
    status = pod["status"]
    for cond in status.get("conditions") or []:
        if cond["type"] == "PodReadyToStartContainers":
            cond["status"] = "True"
    for cs in status.get("containerStatuses") or []:
        why = waiting.get(cs["name"])
        if why is not None:
            cs["state"] = {"waiting": {"reason": why.reason, "message": why.message}}
    ctl.put(R.POD, pod)
    ctl.timers[key] = now + ctl.images.next_sync(pod, waiting, now)
    return False


__all__ = ["ImageManager", "image_missing", "invalid_reference", "pull_error", "wait_images"]
