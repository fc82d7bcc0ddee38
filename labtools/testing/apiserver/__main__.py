"""`python -m labtools.testing.apiserver`: run the fake API server in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line flags."""
    p = argparse.ArgumentParser(
        prog="python -m labtools.testing.apiserver",
        description="A fake Kubernetes v1.32 API server for tests.",
    )
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http", action="store_true")
    p.add_argument("--name", default="fake")
    p.add_argument("--node-name", default="minikube")
    p.add_argument("--cert-dir", type=Path)
    p.add_argument(
        "--ca-cert",
        type=Path,
        help="CA certificate to sign with (with --ca-key); generated and written if missing",
    )
    p.add_argument(
        "--ca-key",
        type=Path,
        help="CA private key to sign with (with --ca-cert); generated and written if missing",
    )
    p.add_argument("--state-dir", type=Path)
    p.add_argument("--data", type=Path)
    p.add_argument(
        "--pod-ready-delay",
        type=float,
        default=float(os.environ.get("LABTOOLS_FAKE_POD_DELAY", "1.0")),
    )
    p.add_argument(
        "--backoff-scale",
        type=float,
        default=None,
        help="scale the kubelet's back-off waits (default 1, env LABTOOLS_FAKE_BACKOFF_SCALE)",
    )
    p.add_argument("--kubernetes-version", default="v1.32.0")
    # set by a restart (POST /_fake/restart): how long the server stays down before it binds
    p.add_argument("--start-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if (args.ca_cert is None) != (args.ca_key is None):
        p.error("--ca-cert and --ca-key go together")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; write the kubeconfig once ready."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .app import App, Options
    from .backoff import scale_from_env
    from .kubeconfig import kubeconfig_doc, write_kubeconfig

    _reap_previous_image()
    if args.start_delay > 0:
        time.sleep(args.start_delay)
    kubeconfig = args.kubeconfig.resolve()
    cert_dir = (args.cert_dir or kubeconfig.parent).resolve()
    opts = Options(
        host=args.host,
        port=args.port,
        http=args.http,
        name=args.name,
        node_name=args.node_name,
        cert_dir=cert_dir,
        ca_cert=args.ca_cert.resolve() if args.ca_cert else None,
        ca_key=args.ca_key.resolve() if args.ca_key else None,
        state_dir=args.state_dir or cert_dir / "state",
        data_file=args.data,
        pod_ready_delay=args.pod_ready_delay,
        backoff_scale=args.backoff_scale if args.backoff_scale else scale_from_env(),
        version=args.kubernetes_version,
        restart_argv=list(sys.orig_argv[1:]) if argv is None else ["-m", __package__, *argv],
    )
    app = App(opts)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    url = app.start()
    write_kubeconfig(kubeconfig, kubeconfig_doc(args.name, url, app.certs))
    print(f"fake apiserver ready at {url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        app.stop()
    return 0


def _reap_previous_image() -> None:
    """After a restart (exec), collect the pods of the previous image: they died with it."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    sys.exit(main())
