"""labtools.verify.probes against this machine's own kernel tables (testinfra's local backend)."""

from __future__ import annotations

import socket

import pytest
import testinfra

from labtools.verify.probes import listening, listening_ports

SAMPLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 2 1
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 3 1
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:0
"""


def test_listening_ports_reads_ipv4_and_ipv6_listeners_only() -> None:
    # 8080 and 53 listen; the established connection to 8080 is not a listener; 8081 on IPv6
    assert listening_ports(SAMPLE) == {8080, 53, 8081}


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_listening_sees_a_real_listener_and_its_end(family: int) -> None:
    host = testinfra.get_host("local://")
    with socket.socket(family) as server:
        try:
            server.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        except OSError as exc:  # a machine without IPv6 on loopback
            pytest.skip(f"cannot bind the loopback address: {exc}")
        port = server.getsockname()[1]
        assert not listening(host, port)  # bound, not listening yet
        server.listen()
        assert listening(host, port)
    assert not listening(host, port)
