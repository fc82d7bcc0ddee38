"""The retry policy of read-only kubectl steps: which failures are the API server's passing
trouble, and how long to keep asking.

A read-only step (``get``, ``describe``, ``logs``, ``wait``...) changes nothing, so running it
again is safe; a step that changes state is never repeated behind the lab's back (a ``create``
the server did but answered 500 to would fail the second time). kubectl itself (client-go)
already honours ``Retry-After`` on 429 and 5xx answers, up to 10 times; labtools adds at most
``len(TRANSIENT_WAITS)`` runs of the whole command on top, after waits of 1, 2 and 4 s, so a
step costs at most 7 s of waiting more than its own runs. A command that times out is not
retried: a server that does not answer would take the whole timeout again each time.
"""

from __future__ import annotations

import re

TRANSIENT_WAITS: tuple[float, ...] = (1.0, 2.0, 4.0)
"""Seconds before each extra run of a read-only kubectl command that met a passing error."""

# kubectl's texts (staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go reasons, as
# kubectl's cmdutil.CheckErr prints them; client-go's connection errors). The reason names are
# the API's and the kernel's own words, shown as they are.
_TRANSIENT: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("InternalError (500)", re.compile(r"Error from server \(InternalError\)")),
    ("ServiceUnavailable (503)", re.compile(r"Error from server \(ServiceUnavailable\)")),
    ("Timeout (504)", re.compile(r"Error from server \(Timeout\)")),
    ("TooManyRequests (429)", re.compile(r"Error from server \(TooManyRequests\)")),
    (
        "connection refused",
        re.compile(r"to the server \S+ was refused|connect: connection refused"),
    ),
    ("connection reset", re.compile(r"connection reset by peer|unexpected EOF|GOAWAY")),
)


def transient_reason(stderr: str) -> str | None:
    """Why a failed kubectl command is worth running again (None: its failure is its own)."""
    for reason, pattern in _TRANSIENT:
        if pattern.search(stderr):
            return reason
    return None
