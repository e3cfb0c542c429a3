"""What the sandbox's tests share: the guide's requests as plain HTTP sends them, a test key, raw HTTP.

Copied from the tutorial's ``tests/support.py`` on purpose: the sandbox's tests import nothing from
``helpers``; they talk to the server with ``requests``, raw sockets and the official SDKs.
"""

from __future__ import annotations

import json
import socket
from typing import BinaryIO

from perplexity_sandbox import Sandbox

FAKE_KEY = "pplx-" + "t3st" * 12  # built at run time, so no key-shaped string sits in the source

AUTH = {"Authorization": f"Bearer {FAKE_KEY}"}
GUIDE_QUESTION = "How many stars are there in our galaxy?"
GUIDE_AGENT = {
    "model": "perplexity/sonar",
    "input": GUIDE_QUESTION,
    "instructions": "Be precise and concise.",
    "tools": [{"type": "web_search"}],
}
GUIDE_LEGACY = {
    "model": "mistral-7b-instruct",
    "messages": [
        {"role": "system", "content": "Be precise and concise."},
        {"role": "user", "content": "How many stars are there in our galaxy?"},
    ],
}


def raw_exchange(sandbox: Sandbox, request: bytes, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; return status, headers and body."""
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def assert_error_envelope(body: bytes, status: int) -> None:
    error = json.loads(body)["error"]
    assert error["code"] == status and error["message"] and error["type"]


def read_response(reader: BinaryIO) -> tuple[int, bytes, bytes]:
    """One response with a Content-Length from a keep-alive connection: status, head, body."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline(65536)
        assert line, f"connection closed after {head[:300]!r}"
        head += line
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    return int(head[9:12]), head, reader.read(length)
