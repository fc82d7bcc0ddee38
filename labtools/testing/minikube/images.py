"""`minikube start --download-only`, `minikube cache add`, `minikube image load`: the image cache.

What the real minikube (v1.37) does, and so the fake:

* ``start --download-only`` (``pkg/minikube/node/start.go`` Provision, ``node/cache.go``
  handleDownloadOnly): prints the "Starting ... node" line (and "Pulling base image" for the
  docker/podman drivers), **saves the profile's config** (SaveProfile comes before the
  download-only exit), caches the preload tarball, kubectl and the kic base image under
  ``$MINIKUBE_HOME/cache/``, saves the images of the global config's ``cache`` key, prints
  "Download complete!" and exits 0. No machine, no API server, no kubeconfig entry.
* ``cache add IMAGE...`` (``cmd/minikube/cmd/cache.go``): warns that "minikube cache" will be
  deprecated, needs an existing profile (``--all``: every valid one) or exits MK_USAGE "PROFILE
  profile is not valid: cluster "PROFILE" does not exist"; saves each image as a tarball under
  ``cache/images/<arch>/`` (``pkg/minikube/image/cache.go`` SaveToDir: ``:`` becomes ``_``; an
  image the registry does not have is a warning "The image 'X' was not found; unable to add it
  to cache." and *not* an error), loads them into running profiles (stopped ones load at their
  next start), and adds every name to the ``cache`` map of ``config/config.json``.
* ``image load IMAGE`` (``cmd/minikube/cmd/image.go``): MK_USAGE without an argument or a
  profile; a registry image is cached as above and loaded into the profile when it runs;
  silent on success.

The registry is the fake API server's (``ctl_images``): every well-formed reference exists but
the missing ones, and a reference that does not parse is refused. The tarballs are small docker
archives (a manifest and an image config, no layers): their names and places are minikube's, so
a tool that measures or lists the cache sees what it would see.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path
from typing import Any

from labtools.testing.apiserver.ctl_images import image_missing, invalid_reference
from labtools.testing.minikube import clusterconfig as cc
from labtools.testing.minikube import state
from labtools.testing.minikube.common import Invocation
from labtools.testing.minikube.console import MK_USAGE, Reason
from labtools.testing.minikube.version import KIC_BASE_VERSION

MK_CACHE_LOAD = Reason("MK_CACHE_LOAD", 10)  # reason.InternalCacheLoad (ExProgramError)
GUEST_IMAGE_LOAD = Reason("GUEST_IMAGE_LOAD", 80)
PRELOAD_VERSION = "v18"  # pkg/minikube/download/preload.go PreloadVersion
CACHE_KEY = "cache"  # cmd/minikube/cmd/cache.go cacheImageConfigKey
DEPRECATED = '"minikube cache" will be deprecated in upcoming versions, please switch to ' + (
    '"minikube image load"'
)


def arch() -> str:
    """GOARCH of this machine (``amd64``, ``arm64``)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def image_cache_dir() -> Path:
    """detect.ImageCacheDir: ``$MINIKUBE_HOME/cache/images/<arch>``."""
    return state.minikube_home() / "cache" / "images" / arch()


def image_path(image: str) -> Path:
    """Where ``image`` is cached: its name under the cache dir with ``:`` as ``_``."""
    return image_cache_dir() / image.replace(":", "_")


def normalized(image: str) -> str:
    """normalizeTagName: ``nginx`` is ``nginx:latest``."""
    _, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return image
    return image + ":latest"


def _archive(image: str) -> bytes:
    """A docker archive of ``image``: ``manifest.json`` and the image config it names."""
    config = json.dumps({"architecture": arch(), "os": "linux", "rootfs": {"type": "layers"}})
    digest = hashlib.sha256(config.encode()).hexdigest()
    manifest = json.dumps([{"Config": f"sha256:{digest}", "RepoTags": [image], "Layers": []}])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in ((f"sha256:{digest}", config), ("manifest.json", manifest)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    """Write atomically (a temporary file renamed), as minikube's writeImage does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_to_dir(inv: Invocation, images: list[str]) -> list[str]:
    """image.SaveToDir: cache each image; the ones cached (missing ones are a warning)."""
    saved = []
    for image in images:
        problem = invalid_reference(image)
        path = image_path(image)
        if problem is not None:
            raise inv.console.fail(
                MK_CACHE_LOAD,
                f'Failed to cache and load images: save to dir: caching images: caching image "'
                f'{path}": parsing image ref name for {normalized(image)}: could not parse '
                f"reference: {normalized(image)}",
            )
        if image_missing(normalized(image)):
            inv.console.warning(f"The image '{image}' was not found; unable to add it to cache.")
            continue
        if not path.exists():
            _write(path, _archive(normalized(image)))
        saved.append(image)
    return saved


def _global_config() -> tuple[Path, dict[str, Any]]:
    path = state.minikube_home() / "config" / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    return path, data if isinstance(data, dict) else {}


def add_to_config(images: list[str]) -> None:
    """cmdConfig.AddToConfigMap("cache", images): ``{"cache": {"IMAGE": null}}``."""
    path, data = _global_config()
    known = data.get(CACHE_KEY) if isinstance(data.get(CACHE_KEY), dict) else {}
    data[CACHE_KEY] = {**dict.fromkeys(images), **dict.fromkeys(known or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


def config_images() -> list[str]:
    """The images of the global config's ``cache`` map (what every start loads)."""
    return sorted(_global_config()[1].get(CACHE_KEY) or {})


def load_into(profiles: list[str], images: list[str]) -> None:
    """machine.DoLoadImages: into each running profile (a stopped one loads at its next start).

    The fake's nodes pull from the fake registry anyway; the loaded names are kept in the
    profile (``images.json``) so a start, a reload and a test can tell what a node holds."""
    for name in profiles:
        if state.running_pid(name) is None:
            continue
        path = state.profile_dir(name) / "images.json"
        try:
            held = set(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            held = set()
        path.write_text(json.dumps(sorted(held | set(images))), encoding="utf-8")


def _profile_or_usage(inv: Invocation, message: str) -> None:
    if state.load_config(inv.profile) is None:
        text = message.format(profile=inv.profile)
        raise inv.console.fail(MK_USAGE, f'{text}: cluster "{inv.profile}" does not exist')


def cache(inv: Invocation) -> int:
    """`minikube cache add [--all] IMAGE...` (``delete`` and ``list`` are not faked)."""
    verb, images = (inv.parsed.args[0], inv.parsed.args[1:]) if inv.parsed.args else ("", [])
    if verb != "add":
        raise inv.console.fail(MK_USAGE, "usage: minikube cache add IMAGE...")
    inv.console.warning(DEPRECATED)
    if inv.flag("all"):
        profiles = [n for n in state.profile_names() if state.load_config(n) is not None]
    else:
        _profile_or_usage(inv, "{profile} profile is not valid")
        profiles = [inv.profile]
    load_into(profiles, save_to_dir(inv, images))
    add_to_config(images)
    return 0


def image(inv: Invocation) -> int:
    """`minikube image load IMAGE...` of registry images (archives and ``--pull`` not faked)."""
    verb, images = (inv.parsed.args[0], inv.parsed.args[1:]) if inv.parsed.args else ("", [])
    if verb != "load":
        raise inv.console.fail(MK_USAGE, "usage: minikube image load IMAGE...")
    if not images:
        raise inv.console.fail(
            MK_USAGE,
            "Please provide an image in your local daemon to load into minikube via "
            "<minikube image load IMAGE_NAME>",
        )
    _profile_or_usage(inv, "loading profile")
    load_into([inv.profile], save_to_dir(inv, images))
    return 0


def download_only(inv: Invocation, opts: cc.StartOptions, existing: dict[str, Any] | None) -> int:
    """`minikube start --download-only` after its first lines: the profile's config and the
    cache; nothing runs."""
    name = inv.profile
    if existing is None:
        state.save_config(name, cc.build(name, opts, state.node_ip(name)))
    version, runtime = opts.kubernetes_version, opts.container_runtime
    cache_dir = state.minikube_home() / "cache"
    preload = (
        f"preloaded-images-k8s-{PRELOAD_VERSION}-{version}-{runtime}-overlay2-{arch()}.tar.lz4"
    )
    artifacts = [
        cache_dir / "preloaded-tarball" / preload,
        cache_dir / "linux" / arch() / version / "kubectl",
    ]
    if opts.driver in ("docker", "podman"):
        # the real name ends in the image's digest (kicbase_v0.0.48@sha256_<hex>.tar)
        artifacts.append(cache_dir / "kic" / arch() / f"kicbase_{KIC_BASE_VERSION}.tar")
    for path in artifacts:
        if not path.exists():
            _write(path, f"labtools fake minikube: {path.name}\n".encode())
    save_to_dir(inv, config_images())
    inv.console.styled("check", "Download complete!")
    return 0
