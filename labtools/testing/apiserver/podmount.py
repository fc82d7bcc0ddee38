"""Give one container its own mount namespace with its volumes at their mountPaths, then exec it.

Run as ``python -I -S podmount.py PLAN -- ARGV...`` (a standalone script: no imports from
labtools, so it starts fast) inside the pod's network and UTS namespaces. ``PLAN`` is JSON:
``{"mounts": [[source, target, read_only], ...], "scratch": DIR, "cwd": DIR}``.

The host's filesystem is the container's root (the fake has no images), so a ``mountPath`` that
does not exist on the host must be created without touching the host: the deepest existing
directory above it is covered, in this namespace only, by an overlay whose upper layer is a
tmpfs (mounts below that directory are bound back on top). A mountPath right under ``/``
(``/config``) gets a root of its own instead: a tmpfs with every top-level entry of ``/`` bound
into it, and the process is chrooted there. The host never sees any of it; the namespace, and so
every mount, ends with the container's last process.

On failure the error is printed like a runtime's and the script exits 128.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


class MountFailure(Exception):
    """A mount step failed (the message says which)."""


def _call(name: str, result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise MountFailure(f"{name} {what}: {os.strerror(errno)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2)."""
    _call(
        "mount",
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        target,
    )


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            point = line.split()[4]
            points.append(point.encode().decode("unicode_escape"))
    return points


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


class Namespace:
    """The mounts of one container namespace, built step by step."""

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch
        self.overlaid: set[str] = set()
        self.root = "/"
        self.count = 0

    def _scratch_dir(self, *parts: str) -> str:
        path = os.path.join(self.scratch, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def host(self, path: str) -> str:
        """Where a container path is in this process's view (inside the new root, if any)."""
        return path if self.root == "/" else os.path.join(self.root, path.lstrip("/"))

    def new_root(self) -> None:
        """A root of our own: a tmpfs holding every top-level entry of ``/``."""
        if self.root != "/":
            return
        root = self._scratch_dir("root")
        mount("tmpfs", root, "tmpfs", 0, "mode=755")
        for entry in sorted(os.listdir("/")):
            src, dst = os.path.join("/", entry), os.path.join(root, entry)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif os.path.isdir(src):
                os.mkdir(dst)
                mount(src, dst, None, MS_BIND | MS_REC)
            else:
                open(dst, "w").close()
                mount(src, dst, None, MS_BIND)
        self.root = root

    def overlay(self, directory: str) -> None:
        """Make ``directory`` writable in this namespace only (a tmpfs-backed overlay)."""
        if directory in self.overlaid:
            return
        self.count += 1
        base = self._scratch_dir(f"ovl{self.count}")
        mount("tmpfs", base, "tmpfs", 0, "mode=755")
        upper, work, orig = (self._scratch_dir(base, p) for p in ("upper", "work", "orig"))
        inner = [
            p
            for p in _mount_points()
            if p.startswith(directory.rstrip("/") + "/") and not p.startswith(self.scratch)
        ]
        mount(directory, orig, None, MS_BIND | MS_REC)
        options = f"lowerdir={_escape(directory)},upperdir={_escape(upper)},workdir={_escape(work)}"
        mount("overlay", directory, "overlay", 0, options)
        # the overlay shows only the directory's own filesystem: bind its submounts back
        tops = [p for p in inner if not any(p != q and p.startswith(q + "/") for q in inner)]
        for point in tops:
            inside = os.path.join(orig, os.path.relpath(point, directory))
            mount(inside, point, None, MS_BIND | MS_REC)
        self.overlaid.add(directory)

    def make_target(self, target: str, is_dir: bool) -> str:
        """Create the mount point ``target`` (a container path); its path in our view."""
        path = self.host(target)
        if os.path.lexists(path):
            return path
        ancestor = os.path.dirname(path)
        while not os.path.isdir(ancestor):
            ancestor = os.path.dirname(ancestor)
        if ancestor not in (self.root, "/"):
            self.overlay(ancestor)
        if is_dir:
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        return path

    def bind(self, source: str, target: str, read_only: bool) -> None:
        """Bind ``source`` at the container path ``target``."""
        path = self.make_target(target, os.path.isdir(source))
        mount(source, path, None, MS_BIND | MS_REC)
        if read_only:
            mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def setup(plan: dict[str, object]) -> None:
    """Unshare the mount namespace and make every mount of the plan."""
    _call("unshare", _libc.unshare(CLONE_NEWNS), "mount namespace")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    scratch = str(plan["scratch"])
    os.makedirs(scratch, exist_ok=True)
    mount("tmpfs", scratch, "tmpfs", 0, "mode=700")
    namespace = Namespace(scratch)
    mounts = [(str(s), str(t), bool(r)) for s, t, r in plan.get("mounts") or []]  # type: ignore[attr-defined]
    # mounts below the host's own top-level directories first: a new root made after them
    # binds those directories with everything mounted in them so far
    later = [m for m in mounts if not os.path.isdir("/" + m[1].strip("/").split("/")[0])]
    for source, target, read_only in mounts:
        if (source, target, read_only) not in later:
            namespace.bind(source, target, read_only)
    if later:
        namespace.new_root()
        for source, target, read_only in later:
            namespace.bind(source, target, read_only)
        os.chroot(namespace.root)
    os.chdir(str(plan.get("cwd") or "/"))


def main(argv: list[str]) -> int:
    """Set the mounts up, then exec the container's command."""
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: podmount.py PLAN -- ARGV...\n")
        return 2
    plan = json.loads(argv[0])
    try:
        setup(plan)
    except (MountFailure, OSError) as exc:
        sys.stderr.write(f"failed to create container mounts: {exc}\n")
        return 128
    try:
        os.execvp(argv[2], argv[2:])
    except OSError as exc:
        sys.stderr.write(f'exec: "{argv[2]}": {exc.strerror}\n')
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
