"""Stand-ins for container images: ``python -m labtools.testing.apiserver.apps IMAGE [--port N]``.

Each emulation behaves like the real image as seen from outside: the bootcamp app's text and
console.log lines, nginx's welcome page and access log. Any other image idles like a container
whose entrypoint never exits. Run as a program, stdout is the log; the pod runtime hosts the
same handlers in the API server (``apphost.py``, ``handler_class``), one listening socket in
each pod's network namespace, so a pod costs no interpreter of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import os
import posixpath
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

BOOTCAMP_REPOS = (
    "gcr.io/google-samples/kubernetes-bootcamp",
    "gcr.io/k8s-minikube/kubernetes-bootcamp",
    "jocatalin/kubernetes-bootcamp",
    "docker.io/jocatalin/kubernetes-bootcamp",
)
BOOTCAMP_TAGS = {"v1": 1, "v2": 2}
NGINX_VERSION = "1.27.3"
NGINX_DOCROOT = "/usr/share/nginx/html"

# The ENV lines of each image's Dockerfile, in image order (they follow the Kubernetes vars).
IMAGE_ENV: dict[str, dict[str, str]] = {
    "bootcamp": {"NPM_CONFIG_LOGLEVEL": "info", "NODE_VERSION": "6.3.1"},
    "nginx": {
        "NGINX_VERSION": NGINX_VERSION,
        "NJS_VERSION": "0.8.7",
        "NJS_RELEASE": "1~bookworm",
        "PKG_RELEASE": "1~bookworm",
        "DYNPKG_RELEASE": "1~bookworm",
    },
}

BOOTCAMP_SERVER_JS = """\
var http = require('http');
var requests=0;
var podname= process.env.HOSTNAME;
var startTime;
var host;
var handleRequest = function(request, response) {
  response.setHeader('Content-Type', 'text/plain');
  response.writeHead(200);
  response.write("Hello Kubernetes bootcamp! | Running on: ");
  response.write(host);
  response.end(" | v=1\\n");
{log_line}
}
var www = http.createServer(handleRequest);
www.listen(8080,function () {
    startTime = new Date();;
    host = process.env.HOSTNAME;
    console.log ("Kubernetes Bootcamp App Started At:",startTime, "| Running On: " ,host, "\\n" );
});
""".replace(
    "{log_line}",
    '  console.log("Running On:" ,host, "| Total Requests:", ++requests,"| App Uptime:", '
    '(new Date() - startTime)/1000 , "seconds", "| Log Time:",new Date());',
)

NGINX_WELCOME = """\
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

# nginx's built-in error pages end their lines with CRLF (the 404 body is 153 bytes).
NGINX_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n"
    f"<hr><center>nginx/{NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n"
)

NGINX_50X = """\
<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

# the files of the image's /usr/share/nginx/html
NGINX_BUILTIN = {"index.html": NGINX_WELCOME, "50x.html": NGINX_50X}

NGINX_STARTUP = [
    "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, "
    "will attempt to perform configuration",
    "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
    "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
    "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in "
    "/etc/nginx/conf.d/default.conf",
    "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
    "/docker-entrypoint.sh: Configuration complete; ready for start up",
]


def _split_image(image: str) -> tuple[str, str]:
    """Repository and tag (``latest`` when absent) of an image reference."""
    name = image.split("@", 1)[0]
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return repo, tag


def image_kind(image: str) -> str | None:
    """Which emulation serves ``image``: ``bootcamp``, ``nginx`` or None (idle)."""
    repo, tag = _split_image(image)
    if repo in BOOTCAMP_REPOS and tag in BOOTCAMP_TAGS:
        return "bootcamp"
    return "nginx" if repo.rsplit("/", 1)[-1].startswith("nginx") else None


def image_pull_error(image: str) -> str | None:
    """The pull error of an image known not to exist (bootcamp:v10), or None."""
    repo, tag = _split_image(image)
    if repo in BOOTCAMP_REPOS and tag not in BOOTCAMP_TAGS:
        return (
            f"Error response from daemon: manifest for {repo}:{tag} not found: "
            "manifest unknown: manifest unknown"
        )
    return None


def image_env(image: str) -> dict[str, str]:
    """The ENV an image sets (appended after the Kubernetes service variables)."""
    kind = image_kind(image)
    return dict(IMAGE_ENV.get(kind, {})) if kind else {}


def docroot(image: str) -> str | None:
    """Where the image serves static files from (a volume mounted there replaces them)."""
    return NGINX_DOCROOT if image_kind(image) == "nginx" else None


def default_port(image: str) -> int | None:
    """The port the emulated image listens on, or None for an idle image."""
    return {"bootcamp": 8080, "nginx": 80}.get(image_kind(image) or "")


def js_date(moment: dt.datetime) -> str:
    """A Date as node's console.log prints it: ISO 8601 with milliseconds and Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def js_number(value: float) -> str:
    """A number as JavaScript prints it (no trailing ``.0``)."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _log(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class QuietHandler(BaseHTTPRequestHandler):
    """Base handler: HTTP/1.1, no stderr chatter, the image decides its headers."""

    protocol_version = "HTTP/1.1"
    # where the image's log lines go (stdout; a hosted instance writes its CRI log file)
    emit = staticmethod(_log)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own access log (the image writes its own)."""

    def reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        """Write status line, headers and body; keep the connection open like node/nginx."""
        self.send_response_only(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.handle_any()

    def handle_any(self) -> None:
        """Answer any method."""
        raise NotImplementedError

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any


class BootcampHandler(QuietHandler):
    """server.js of kubernetes-bootcamp: 200 text/plain for any path and method."""

    version: ClassVar[int] = 1
    hostname: ClassVar[str] = ""
    started: ClassVar[float] = 0.0
    requests: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    def handle_any(self) -> None:
        """Reply with the bootcamp greeting and log the request line node would."""
        cls = type(self)
        body = f"Hello Kubernetes bootcamp! | Running on: {cls.hostname} | v={cls.version}\n"
        date = email.utils.formatdate(usegmt=True)
        self.reply(200, body.encode(), [("Content-Type", "text/plain"), ("Date", date)])
        with cls.lock:
            cls.requests += 1
            now = time.time()
            uptime = js_number(round((now - cls.started) * 1000) / 1000)
            stamp = js_date(dt.datetime.fromtimestamp(now, dt.UTC))
            self.emit(
                f"Running On: {cls.hostname} | Total Requests: {cls.requests} | "
                f"App Uptime: {uptime} seconds | Log Time: {stamp}"
            )


class NginxHandler(QuietHandler):
    """nginx's default server: files of the docroot, 404 elsewhere, combined access log.

    The image's docroot holds ``index.html`` (the welcome page) and ``50x.html``; when the pod
    mounts a volume at ``/usr/share/nginx/html`` the stand-in is started with ``--docroot`` and
    serves that directory's files (a ConfigMap's keys, say) instead; with a volume below it
    (``--docroot --keep-builtin``) the image's two files stay beside the volume.
    """

    docroot: ClassVar[str | None] = None
    # a volume mounted under the docroot, not at it: the image's own files stay
    keep_builtin: ClassVar[bool] = True

    def handle_any(self) -> None:
        """Serve the requested file or the 404 page and write an access log line."""
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        body = self._file(path)
        status = 200 if body is not None else 404
        if body is None:
            body = NGINX_404.encode()
        headers = [
            ("Server", f"nginx/{NGINX_VERSION}"),
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Content-Type", _content_type(path) if status == 200 else "text/html"),
        ]
        self.reply(status, body, headers)
        self._access_log(status, 0 if self.command == "HEAD" else len(body))

    def _file(self, path: str) -> bytes | None:
        """The bytes nginx would send for ``path`` (``index.html`` for a directory)."""
        relative = posixpath.normpath(path).lstrip("/")
        if relative in ("", "."):
            relative = "index.html"
        cls = type(self)
        if cls.docroot is not None:
            candidate = os.path.join(cls.docroot, relative)
            if os.path.isdir(candidate):
                candidate = os.path.join(candidate, "index.html")
            if os.path.isfile(candidate):
                with open(candidate, "rb") as handle:
                    return handle.read()
        if cls.docroot is not None and not cls.keep_builtin:
            return None
        builtin = NGINX_BUILTIN.get(relative)
        return builtin.encode() if builtin is not None else None

    def _access_log(self, status: int, size: int) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        referer = self.headers.get("Referer") or "-"
        agent = self.headers.get("User-Agent") or "-"
        forwarded = self.headers.get("X-Forwarded-For") or "-"
        client = str(self.client_address[0]).removeprefix("::ffff:")
        self.emit(
            f'{client} - - [{stamp}] "{self.requestline}" {status} {size} '
            f'"{referer}" "{agent}" "{forwarded}"'
        )


def _content_type(path: str) -> str:
    """nginx's mime.types for the common extensions; ``default_type application/octet-stream``."""
    types = {
        ".html": "text/html",
        ".htm": "text/html",
        ".css": "text/css",
        ".js": "application/javascript",
        ".json": "application/json",
        ".txt": "text/plain",
        ".xml": "text/xml",
        ".png": "image/png",
        ".svg": "image/svg+xml",
    }
    if path.endswith("/") or posixpath.basename(path) == "":
        return "text/html"
    return types.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")


class DualStackServer(ThreadingHTTPServer):
    """Listens on ``[::]`` for IPv4 and IPv6 like node's ``listen(port)``; IPv4 if v6 is off."""

    daemon_threads = True
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        """Accept IPv4-mapped connections too."""
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(handler: type[QuietHandler], port: int) -> ThreadingHTTPServer:
    """Bind the image's HTTP server on every address."""
    try:
        return DualStackServer(("::", port), handler)
    except OSError:
        ThreadingHTTPServer.daemon_threads = True
        return ThreadingHTTPServer(("0.0.0.0", port), handler)


def bootcamp_banner(hostname: str, started: float) -> list[str]:
    """What server.js logs when it listens."""
    stamp = js_date(dt.datetime.fromtimestamp(started, dt.UTC))
    # console.log joins its arguments with spaces: two spaces before the host, one after,
    # then the "\n" argument makes an empty line.
    return [f"Kubernetes Bootcamp App Started At: {stamp} | Running On:  {hostname} ", ""]


def nginx_banner() -> list[str]:
    """What the nginx image's entrypoint and nginx log at start."""
    stamp = dt.datetime.now().strftime("%Y/%m/%d %H:%M:%S")
    notes = ('using the "epoll" event method', f"nginx/{NGINX_VERSION}", "start worker processes")
    return [*NGINX_STARTUP, *(f"{stamp} [notice] 1#1: {note}" for note in notes)]


def handler_class(
    image: str,
    hostname: str,
    docroot_dir: str | None = None,
    keep_builtin: bool = True,
    emit: Callable[[str], None] = _log,
) -> type[QuietHandler] | None:
    """A handler class of its own for one instance of the image (None: it serves nothing)."""
    kind = image_kind(image)
    state: dict[str, Any] = {"emit": staticmethod(emit)}
    if kind == "bootcamp":
        state.update(
            version=BOOTCAMP_TAGS[_split_image(image)[1]],
            hostname=hostname,
            started=time.time(),
            requests=0,
            lock=threading.Lock(),
        )
        return type("Bootcamp", (BootcampHandler,), state)
    if kind == "nginx":
        state.update(docroot=docroot_dir, keep_builtin=keep_builtin or docroot_dir is None)
        return type("Nginx", (NginxHandler,), state)
    return None


def banner(handler: type[QuietHandler]) -> list[str]:
    """The start-up lines of the image a handler class serves."""
    if issubclass(handler, BootcampHandler):
        return bootcamp_banner(handler.hostname, handler.started)
    return nginx_banner()


def run_bootcamp(image: str, port: int, hostname: str) -> None:
    """Run the bootcamp app until terminated."""
    handler = handler_class(image, hostname)
    assert handler is not None
    server = serve(handler, port)
    for line in banner(handler):
        _log(line)
    server.serve_forever()


def run_nginx(port: int, docroot: str | None = None, keep_builtin: bool = True) -> None:
    """Run the nginx stand-in until terminated."""
    handler = handler_class("nginx", "", docroot, keep_builtin)
    assert handler is not None
    server = serve(handler, port)
    for line in banner(handler):
        _log(line)
    server.serve_forever()


def run_idle() -> None:
    """Stay alive without output, like a container whose process never exits."""
    while True:
        signal.pause()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m labtools.testing.apiserver.apps``."""
    parser = argparse.ArgumentParser(prog="apps")
    parser.add_argument("image")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--hostname", default="")
    parser.add_argument("--docroot", default=None)
    parser.add_argument("--keep-builtin", action="store_true")
    args = parser.parse_args(argv)
    # SIGTERM ends the container at once with status 143 (a node or nginx process would too).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kind = image_kind(args.image)
    port = args.port or default_port(args.image) or 0
    hostname = args.hostname or os.environ.get("HOSTNAME") or socket.gethostname()
    if kind == "bootcamp":
        run_bootcamp(args.image, port, hostname)
    elif kind == "nginx":
        run_nginx(port, args.docroot, args.keep_builtin or args.docroot is None)
    else:
        run_idle()
    return 0


if __name__ == "__main__":
    sys.exit(main())
