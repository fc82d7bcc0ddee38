"""In-pod probes for checks: one ``kubectl exec`` each, no OS detection.

testinfra's ``host.socket(...)`` first looks for ``ss`` or ``netstat`` in the pod (``command -v``
round trips, each a ``kubectl exec``) and needs one of them in the image. The kernel's own
tables answer the same question in any Linux container, in one exec:
``listening(app_pod_host, 8080)``.
"""

from __future__ import annotations

from typing import Any

TCP_LISTEN = "0A"  # /proc/net/tcp `st` of a listening socket (include/net/tcp_states.h)


def listening_ports(table: str) -> set[int]:
    """The TCP ports in LISTEN state in the text of ``/proc/net/tcp`` (and ``tcp6``)."""
    ports = set()
    for line in table.splitlines():
        fields = line.split()
        # "sl local_address rem_address st ...": local_address is HEXADDR:HEXPORT
        if len(fields) > 3 and fields[3] == TCP_LISTEN and ":" in fields[1]:
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue  # the header line
    return ports


def listening(host: Any, port: int) -> bool:
    """Whether something listens on TCP ``port`` in ``host`` (a testinfra host): one exec."""
    result = host.run("cat /proc/net/tcp /proc/net/tcp6")  # no tcp6 without IPv6: stdout stays
    return port in listening_ports(result.stdout)
