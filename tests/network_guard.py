"""A guard for every test: connections go to this computer only; any other is recorded and refused.

Tests of where a key may go must prove that nothing left the machine, and must never send anything
off it even when the code under test is wrong. The guard patches the socket layer itself (name
lookups and connects), which is what requests, urllib3, httpx and http.client all go through.

:func:`names_resolve_to` stands a loopback server in for "another computer": made-up host names
resolve, in this process only, to a 127.0.0.x address, so the code under test treats them as
remote hosts while every byte stays on this computer.
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


@contextmanager
def names_resolve_to(names: dict[str, str]) -> Iterator[None]:
    """Resolve each made-up host name in ``names`` to its loopback address (``127.0.0.x``), in this process.

    Only the name lookup changes: requests still sends ``Host: class.example``, and the code under
    test still reads the name as another computer's. Addresses that are not loopback are refused,
    so a slip in a test can never point a name off the machine.
    """
    if not all(is_loopback_target(address) for address in names.values()):
        raise ValueError("names_resolve_to maps names to loopback addresses (127.0.0.x) only")
    wrapped = socket.getaddrinfo  # the guard's lookup, when the guard is on: it still has the last word

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode() if isinstance(host, bytes) else host
        name = text.lower().rstrip(".") if isinstance(text, str) else text
        return wrapped(names.get(name, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = wrapped
