"""Put the fake ``minikube`` on PATH: a tiny shell shim that runs this Python's fake minikube.

eval "$(python -m labtools.testing.path --print-export ~/.local/fake-bin)"
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

SHIM_NAME = "minikube"


def shim_text(python: str = sys.executable) -> str:
    """The shim script: exec this interpreter's fake minikube with all arguments."""
    return f'#!/bin/sh\nexec {shlex.quote(python)} -m labtools.testing.minikube "$@"\n'


def install_shim(bin_dir: Path) -> Path:
    """Write an executable ``minikube`` shim into ``bin_dir`` (created if needed); return it."""
    bin_dir = Path(bin_dir).expanduser()
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / SHIM_NAME
    tmp = bin_dir / f".{SHIM_NAME}.tmp"
    tmp.write_text(shim_text(), encoding="utf-8")
    tmp.chmod(0o755)
    tmp.replace(shim)
    return shim


def main(argv: list[str] | None = None) -> int:
    """``python -m labtools.testing.path [--print-export] DIR``."""
    args = sys.argv[1:] if argv is None else argv
    export = "--print-export" in args
    dirs = [a for a in args if a != "--print-export"]
    if len(dirs) != 1 or dirs[0].startswith("-"):
        sys.stderr.write("usage: python -m labtools.testing.path [--print-export] DIR\n")
        return 2
    shim = install_shim(Path(dirs[0]))
    if export:
        sys.stdout.write(f'export PATH={shlex.quote(str(shim.parent))}:"$PATH"\n')
    else:
        sys.stdout.write(f"{shim}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
