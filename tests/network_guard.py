"""A guard for every test: connections go to this computer only; any other is recorded and refused.

Tests of where a key may go must prove that nothing left the machine, and must never send anything
off it even when the code under test is wrong. The guard patches the socket layer itself (name
lookups and connects), which is what requests, urllib3, httpx and http.client all go through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class OffMachineAttemptError(ConnectionRefusedError):
    """Raised instead of connecting to, or looking up, anything but this computer."""


def is_loopback_target(host: Any) -> bool:
    """Whether ``host`` (a name or an address, as sockets get it) is this computer."""
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower() in ("localhost", "localhost.", ""):
        return True
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse (and record) every lookup of, or connection to, an address that is not this computer."""
    attempts: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback_target(host):
            attempts.append(f"lookup {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookups of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not is_loopback_target(address[0]):
            attempts.append(f"connect {address[0]}")
            raise OffMachineAttemptError(f"test guard: no connections to {address[0]!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = getaddrinfo, connect, connect_ex
    try:
        yield attempts
    finally:
        socket.getaddrinfo, socket.socket.connect = real_getaddrinfo, real_connect
        socket.socket.connect_ex = real_connect_ex
