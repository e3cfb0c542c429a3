"""The sandbox as a requests transport adapter: answers in this process, with no socket and no server.

Where a process cannot listen on a socket (the browser edition: Python in WebAssembly, JupyterLite), the
sandbox still answers ``requests``: :class:`InProcessAdapter` turns each ``PreparedRequest`` into a
:class:`~perplexity_sandbox.core.SandboxRequest`, asks :meth:`SandboxCore.handle`, and builds the
``requests.Response`` the HTTP server's answer would have given. A streamed answer stays a stream: its body is
read event by event as the caller iterates (``iter_content``, ``raw.read1``), paced like the server's.

Failures look as they do over HTTP, so the client's one-sentence errors apply unchanged: the ``drop`` fault is a
``requests.ConnectionError``, a ``slow`` answer longer than the read timeout a ``requests.ReadTimeout``, and a stream
cut by the ``truncate_stream`` fault a ``requests.exceptions.ChunkedEncodingError`` once its events are read.
Mount it with ``session.mount(base_url + "/", adapter)``; one adapter (one core) keeps one sandbox's stored runs.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import ProtocolError

from perplexity_sandbox.core import EventStream, HangUp, SandboxCore, SandboxRequest, SandboxResponse

# The address a request in this process comes "from", for the sandbox's request log.
IN_PROCESS_CLIENT = "in-process"


class InProcessAdapter(BaseAdapter):
    """A ``requests`` adapter whose server is a :class:`SandboxCore` in this process.

    ``core``: the sandbox that answers (a new one by default, pacing streamed events ``pace`` seconds apart).
    ``sleep``: how to wait for a pace or a ``slow`` fault (``time.sleep``; a test may pass a recorder).
    """

    def __init__(
        self, core: SandboxCore | None = None, *, pace: float = 0.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__()
        self.core = core if core is not None else SandboxCore(pace=pace)
        self.sleep = sleep

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Answer ``request`` as the sandbox's HTTP server would (TLS, proxies and certificates do not apply)."""
        outcome = self.core.handle(
            SandboxRequest.from_target(
                request.method or "GET",
                request.path_url,
                dict(request.headers),
                _body_bytes(request.body),
                IN_PROCESS_CLIENT,
            )
        )
        self._wait(outcome.delay, _read_timeout(timeout), request)
        if isinstance(outcome, HangUp):
            raise requests.ConnectionError(
                "Connection aborted: the sandbox closed the connection without an answer.", request=request
            )
        return _response_to(request, outcome, self)  # without stream=True, the session reads the body at once

    def close(self) -> None:
        """Nothing to release: no connection is ever opened."""

    def _wait(self, delay: float, read_timeout: float | None, request: requests.PreparedRequest) -> None:
        """The ``slow`` fault's pause, cut short by the read timeout as a socket's would be."""
        if read_timeout is not None and delay > read_timeout:
            self.sleep(read_timeout)
            raise requests.ReadTimeout(f"Read timed out. (read timeout={read_timeout:g})", request=request)
        if delay > 0:
            self.sleep(delay)


class InProcessBody(io.RawIOBase):
    """A response body as ``requests`` reads one from urllib3: ``read``, ``read1`` and ``stream``.

    ``chunks`` come as the sandbox makes them (a streamed answer: one event each, after its pause);
    ``truncated``: the stream ends without its proper end, which urllib3 reports as a ``ProtocolError``.
    """

    def __init__(self, chunks: Iterable[bytes], *, truncated: bool = False) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""
        self._truncated = truncated

    def readable(self) -> bool:
        return True

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        """Up to ``amt`` bytes of what has arrived, waiting only for the next chunk; ``b""`` at the end."""
        if not self._pending:
            self._pending = self._next_chunk()
        size = len(self._pending) if amt is None or amt < 0 else amt
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        """``amt`` bytes (fewer only at the end), or everything that is left when ``amt`` is None."""
        parts, wanted = [], amt if amt is not None and amt >= 0 else None
        while wanted is None or wanted > 0:
            data = self.read1(wanted)
            if not data:
                break
            parts.append(data)
            wanted = None if wanted is None else wanted - len(data)
        return b"".join(parts)

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        """What ``Response.iter_content`` reads: each piece as soon as it has arrived, at most ``amt`` bytes."""
        while data := self.read1(amt):
            yield data

    def release_conn(self) -> None:
        """Nothing to give back to a pool (``Response.close`` calls it)."""

    def _next_chunk(self) -> bytes:
        if self.closed:
            return b""
        for chunk in self._chunks:
            if chunk:
                return chunk
        if self._truncated:
            self._truncated = False  # said once, as a broken connection is
            raise ProtocolError("Response ended prematurely")
        return b""


def _response_to(
    request: requests.PreparedRequest, outcome: SandboxResponse | EventStream, adapter: InProcessAdapter
) -> requests.Response:
    """The ``requests.Response`` for the sandbox's answer, with the headers its HTTP server sends."""
    response = requests.Response()
    response.status_code = outcome.status
    response.reason = _reason(outcome.status)
    response.headers = CaseInsensitiveDict({"Content-Type": outcome.content_type, **outcome.headers})
    if isinstance(outcome, EventStream):
        response.headers.setdefault("Cache-Control", "no-cache")
        response.raw = InProcessBody(_paced(outcome, adapter.sleep), truncated=outcome.truncated)
    else:
        response.headers["Content-Length"] = str(len(outcome.body))
        response.raw = InProcessBody([outcome.body])
    response.encoding = get_encoding_from_headers(response.headers)
    response.url = request.url or ""
    response.request = request
    response.connection = adapter
    return response


def _paced(stream: EventStream, sleep: Callable[[float], None]) -> Iterator[bytes]:
    """The stream's events, each after its pause (the first one's pause was the ``slow`` delay, already waited)."""
    for index, (pause, event) in enumerate(stream):
        if index and pause > 0:
            sleep(pause)
        yield event


def _body_bytes(body: bytes | str | Iterable[bytes] | Any) -> bytes:
    """A prepared request's body as bytes: bytes, text (UTF-8, as requests encodes ``json=``), a file or chunks."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(part.encode("utf-8") if isinstance(part, str) else bytes(part) for part in body)


def _read_timeout(timeout: float | tuple[float | None, float | None] | None) -> float | None:
    """The read part of a requests timeout (``(connect, read)`` or one number for both)."""
    return timeout[1] if isinstance(timeout, tuple) else timeout


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
