"""The fake minikube's image cache: ``start --download-only``, ``cache add``, ``image load``.

What is checked is minikube v1.37's behaviour as its sources have it: ``pkg/minikube/node/
start.go`` (Provision saves the profile before handleDownloadOnly exits), ``node/cache.go``
(handleDownloadOnly: "Download complete!"), ``cmd/minikube/cmd/cache.go`` (the deprecation
warning, "PROFILE profile is not valid", the ``cache`` config key), ``pkg/minikube/image/
cache.go`` (SaveToDir: ``:`` as ``_``, a missing image is a warning, not an error),
``cmd/minikube/cmd/image.go`` (load's usage errors) and ``cmd/minikube/cmd/status.go`` (a
profile without a machine is "Nonexistent").
"""

from __future__ import annotations

import json
import tarfile

import pytest

from labtools.testing.minikube.images import arch
from labtools.testing.plugin import FakeMinikube

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
MISSING = "gcr.io/google-samples/kubernetes-bootcamp:v10"  # the tutorial's tag that never pulls
DEPRECATED = (
    '! "minikube cache" will be deprecated in upcoming versions, please switch to '
    '"minikube image load"'
)


def test_download_only_caches_and_saves_the_profile_but_starts_nothing(
    fake_minikube: FakeMinikube,
) -> None:
    mk = fake_minikube
    done = mk.run("start", "-p", "lab1", "--download-only", "--kubernetes-version=v1.32.0")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert '* Starting "lab1" primary control-plane node in "lab1" cluster' in lines
    assert "* Pulling base image v0.0.48 ..." in lines
    assert lines[-1] == "* Download complete!"
    assert not any("Creating" in line or "Done!" in line for line in lines)
    assert mk.server_pids() == []
    assert not mk.kubeconfig.exists() or "lab1" not in mk.kubeconfig.read_text()
    cache = mk.minikube_home / "cache"
    assert (cache / "linux" / arch() / "v1.32.0" / "kubectl").is_file()
    preload = f"preloaded-images-k8s-v18-v1.32.0-docker-overlay2-{arch()}.tar.lz4"
    assert (cache / "preloaded-tarball" / preload).is_file()
    config = json.loads((mk.minikube_home / "profiles/lab1/config.json").read_text())
    assert config["KubernetesConfig"]["KubernetesVersion"] == "v1.32.0"

    status = mk.run("status", "-p", "lab1", "-o", "json")
    assert status.returncode == 7  # host, cluster and kubeconfig not OK
    assert json.loads(status.stdout) == {
        "Name": "lab1",
        "Host": "Nonexistent",
        "Kubelet": "Nonexistent",
        "APIServer": "Nonexistent",
        "Kubeconfig": "Nonexistent",
        "Worker": False,
    }

    # the saved profile is created (not "restarted") by the real start, with its settings
    started = mk.run("start", "-p", "lab1")
    assert started.returncode == 0, started.stderr
    assert "* Creating docker container (CPUs=2, Memory=" in started.stdout
    assert "* Preparing Kubernetes v1.32.0 on Docker 28.4.0 ..." in started.stdout
    assert len(mk.server_pids()) == 1


def test_cache_add_needs_a_profile(fake_minikube: FakeMinikube) -> None:
    added = fake_minikube.run("cache", "add", BOOTCAMP, "-p", "nope")
    assert added.returncode == 14
    assert added.stderr.splitlines()[0] == DEPRECATED
    assert (
        'X Exiting due to MK_USAGE: nope profile is not valid: cluster "nope" does not exist'
        in added.stderr
    )
    assert not (fake_minikube.minikube_home / "cache" / "images").exists()


def test_cache_add_saves_tarballs_and_the_config_and_a_start_loads_them(
    fake_minikube: FakeMinikube,
) -> None:
    mk = fake_minikube
    assert mk.run("start", "-p", "lab1", "--download-only").returncode == 0
    added = mk.run("cache", "add", BOOTCAMP, MISSING, "nginx", "-p", "lab1")
    assert added.returncode == 0, added.stderr  # a missing image is a warning, not an error
    assert added.stdout == ""
    assert added.stderr.splitlines() == [
        DEPRECATED,
        f"! The image '{MISSING}' was not found; unable to add it to cache.",
    ]
    images = mk.minikube_home / "cache" / "images" / arch()
    tarball = images / "gcr.io" / "google-samples" / "kubernetes-bootcamp_v1"
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [BOOTCAMP]
    assert (images / "nginx").is_file()  # the name as given; the tag inside is nginx:latest
    assert not (images / "gcr.io" / "google-samples" / "kubernetes-bootcamp_v10").exists()
    config = json.loads((mk.minikube_home / "config" / "config.json").read_text())
    assert config["cache"] == {BOOTCAMP: None, MISSING: None, "nginx": None}

    # CacheAndLoadImagesInConfig: the next start loads what is cached into the new node
    assert mk.run("start", "-p", "lab1").returncode == 0
    held = json.loads((mk.minikube_home / "profiles/lab1/images.json").read_text())
    assert held == [BOOTCAMP, "nginx"]


def test_cache_add_refuses_a_name_that_does_not_parse(fake_minikube: FakeMinikube) -> None:
    mk = fake_minikube
    assert mk.run("start", "-p", "lab1", "--download-only").returncode == 0
    added = mk.run("cache", "add", "Bad/Name:1", "-p", "lab1")
    assert added.returncode == 10  # MK_CACHE_LOAD (ExProgramError)
    assert "X Exiting due to MK_CACHE_LOAD: Failed to cache and load images: save to dir" in (
        added.stderr
    )


def test_image_load(fake_minikube: FakeMinikube) -> None:
    mk = fake_minikube
    empty = mk.run("image", "load", "-p", "lab1")
    assert empty.returncode == 14
    assert (
        "X Exiting due to MK_USAGE: Please provide an image in your local daemon to load into "
        "minikube via <minikube image load IMAGE_NAME>" in empty.stderr
    )
    missing = mk.run("image", "load", BOOTCAMP, "-p", "lab1")
    assert missing.returncode == 14
    assert 'X Exiting due to MK_USAGE: loading profile: cluster "lab1" does not exist' in (
        missing.stderr
    )
    assert mk.run("start", "-p", "lab1").returncode == 0
    loaded = mk.run("image", "load", BOOTCAMP, "-p", "lab1")
    assert (loaded.returncode, loaded.stdout, loaded.stderr) == (0, "", "")
    held = json.loads((mk.minikube_home / "profiles/lab1/images.json").read_text())
    assert held == [BOOTCAMP]
