"""HTTP/1.1 on the wire, strictly: a request's head screened, its body read by its framing, replies as bytes.

Built on tornado's public API only: ``IOStream`` reads (``read_until_regex``, ``read_until``, ``read_bytes``),
and ``httputil.parse_request_start_line`` and ``HTTPHeaders.parse`` for the request line and header fields, which
refuse control characters, folded lines and malformed names. The framing rules are the sandbox's, stricter than
most servers', because two parsers that delimit a body differently is how requests are smuggled:

- :func:`screen_head`: ``Content-Length`` with ``Transfer-Encoding``, two lengths (even equal ones), a length not
  in digits, a transfer coding other than one ``chunked``, ``Transfer-Encoding`` on HTTP/1.0 are a 400; too long a
  request line a 414, too many header fields a 431, an HTTP version other than 1.0 and 1.1 a 505;
- :func:`read_body`: a chunk size in hex digits only (no sign, ``0x``, space or extension), each chunk's data
  followed by CRLF, no trailer fields; else a 400.

Each refusal is a :class:`RefusalError` carrying a JSON answer; the connection sends it, then half-closes and
drains what the client still sends for a moment, so that the client reads the answer instead of a reset.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus

from tornado import httputil
from tornado.iostream import IOStream

from perplexity_sandbox.core import SandboxResponse, response_of
from perplexity_sandbox.keys import scrub
from perplexity_sandbox.replies import error_reply

log = logging.getLogger("perplexity_sandbox")

CHUNK_BYTES = 64 * 1024  # what is read at a time, and handed to a request's body in one piece
MAX_REQUEST_LINE = 64 * 1024  # longer: 414 (as http.server had it)
MAX_HEADER_FIELDS = 100  # more: 431 (as http.server had it)
MAX_HEAD_BYTES = 96 * 1024  # a head that has not ended by then is cut off without an answer
MAX_CHUNK_LINE = 64  # a chunk-size line longer than this is cut off (a size is at most 16 hex digits)
# The whole Content-Length: no sign, "_", "0x" or inner space (int() takes some); 18 digits keep int() safe.
_DIGITS = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n")  # the whole line: no sign, "0x", space or extension
_VERSIONED = re.compile(r"\S+ \S+ HTTP/[0-9]+\.[0-9]+")  # a request line whose only fault is its version
_ERROR_TYPES = {
    400: "invalid_request",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "request_header_fields_too_large",
    503: "service_unavailable",
    505: "http_version_not_supported",
}
MALFORMED_CHUNKS = (
    "Malformed chunked request body: each chunk is a size in hex digits (no extensions) and CRLF, "
    "then that many bytes and CRLF."
)


class RefusalError(Exception):
    """A request answered at once and then hung up on; what it still sends is read and dropped, unparsed."""

    def __init__(
        self,
        reply: SandboxResponse,
        method: str = "-",
        target: str = "-",
        log_line: Callable[[int | str, int], None] | None = None,
    ) -> None:
        super().__init__(reply.status)
        self.reply, self.method, self.target, self.log_line = reply, method, target, log_line


def refusal(status: int, message: str, method: str = "-", target: str = "-") -> RefusalError:
    reply = error_reply(status, message, _ERROR_TYPES.get(status, "invalid_request"))
    return RefusalError(response_of(reply), method, target)


# --- the head, screened ---------------------------------------------------------------------


def screen_head(data: bytes) -> tuple[httputil.RequestStartLine, httputil.HTTPHeaders]:
    """The request line and headers of a head, or a :class:`RefusalError` raised for one the sandbox will not route.

    Parsed with tornado's public functions; the checks are the sandbox's: they give each fault its own status and
    a sentence.
    """
    text = data.decode("latin1").lstrip("\r\n")  # blank lines before a request are to be ignored (RFC 9112)
    line, _, fields = text.partition("\n")
    line = line.rstrip("\r")
    method, _, rest = line.partition(" ")
    target = rest.rpartition(" ")[0] or rest
    if len(line) > MAX_REQUEST_LINE:
        raise refusal(414, f"The request line is longer than {MAX_REQUEST_LINE // 1024} KiB.", method)
    try:
        start = httputil.parse_request_start_line(line)
    except httputil.HTTPInputError:
        if _VERSIONED.fullmatch(line):
            raise _unsupported_version(method, target) from None
        raise refusal(400, "Malformed request line: expected 'METHOD /path HTTP/1.1'.") from None
    if start.version not in ("HTTP/1.0", "HTTP/1.1"):
        raise _unsupported_version(method, target)
    if fields.count("\n") - 1 > MAX_HEADER_FIELDS:
        raise refusal(431, f"The request has more than {MAX_HEADER_FIELDS} header fields.", method, target)
    try:
        headers = httputil.HTTPHeaders.parse(fields)
    except httputil.HTTPInputError:
        message = "Malformed header line: each is 'Name: value', in printable characters, none folded."
        raise refusal(400, message, method, target) from None
    lengths, codings = headers.get_list("Content-Length"), headers.get_list("Transfer-Encoding")
    if problem := framing_problem(lengths, codings, start.version == "HTTP/1.0"):
        raise refusal(400, problem, method, target)
    return start, headers


def framing_problem(lengths: list[str], codings: list[str], http10: bool) -> str | None:
    """Why a body with these Content-Length and Transfer-Encoding headers cannot be delimited safely, or None.

    Two parsers that delimit a body differently is how requests are smuggled, so each doubtful case is refused.
    """
    if lengths and codings:
        return "The request has both Content-Length and Transfer-Encoding: send only one."
    if len(lengths) > 1:  # strict: even identical copies are refused (RFC 9112 allows it)
        return "The request has more than one Content-Length header: send exactly one."
    if lengths and not _DIGITS.fullmatch(lengths[0].strip(" \t")):
        return "Content-Length must be a whole number of bytes, written in digits only."
    if codings and http10:
        return "HTTP/1.0 requests cannot use Transfer-Encoding: send a Content-Length."
    if codings and (len(codings) > 1 or codings[0].strip(" \t").lower() != "chunked"):
        return "Only a single 'Transfer-Encoding: chunked' is supported."
    return None


def _unsupported_version(method: str, target: str) -> RefusalError:
    return refusal(505, "Only HTTP/1.0 and HTTP/1.1 are supported.", method, target)


# --- replies on the wire --------------------------------------------------------------------


def head_lines(reply: SandboxResponse, *, close: bool, http10: bool) -> list[str]:
    """Status line and headers, without the framing ones (Content-Length, Transfer-Encoding).

    An HTTP/1.0 client keeps a connection only when the reply says ``keep-alive`` (else it reads until the server
    closes), so the header is written whenever the connection stays open for one.
    """
    lines = [
        f"HTTP/1.1 {reply.status} {phrase(reply.status)}",
        "Server: perplexity-sandbox",
        f"Content-Type: {reply.content_type}",
    ]
    lines += [f"{name}: {value}" for name, value in reply.headers.items()]
    if close:
        lines.append("Connection: close")
    elif http10:
        lines.append("Connection: keep-alive")
    return lines


def whole_reply(
    reply: SandboxResponse, *, close: bool, http10: bool = False, head_only: bool = False
) -> tuple[bytes, int]:
    """A reply with a Content-Length, as one piece of bytes (and the size of its body as sent).

    One write for head and body: written in two, a keep-alive reply waits for the client's delayed ACK.
    """
    body = reply.body
    head = [*head_lines(reply, close=close, http10=http10), f"Content-Length: {len(body)}"]
    sent = b"" if head_only else body
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace") + sent, len(sent)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --- the request log: one line per request, never the key ----------------------------------


def log_request(
    peer: str, method: str, target: str, status: int | str, size: int, started: float | None, key_id: str
) -> None:
    elapsed = (time.perf_counter() - started) * 1000 if started else 0.0
    log.info(
        '%s "%s %s" %s %d %.1fms %s', peer, printable(method)[:16], safe_path(target), status, size, elapsed, key_id
    )


def safe_path(target: str) -> str:
    """The path without its query (where keys sometimes end up), key-shaped words cut, printable."""
    return scrub(printable((target or "-").split("?", 1)[0]))[:200]


def printable(text: str) -> str:
    if text.isprintable():  # nearly always: one C call instead of a loop over the characters
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


# --- the framing of a request ---------------------------------------------------------------


async def read_head(stream: IOStream) -> bytes:
    """The next request head, blank lines before it skipped (RFC 9112); tornado closes the stream on too long a one."""
    while True:
        data = await stream.read_until_regex(b"\r?\n\r?\n", max_bytes=MAX_HEAD_BYTES)
        if data.strip(b"\r\n"):
            return data


def keeps_alive(version: str, headers: Mapping[str, str]) -> bool:
    """Whether the client keeps the connection after this request: HTTP/1.1 unless it says close, 1.0 if it asks."""
    connection = (headers.get("Connection") or "").lower()
    return connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"


def declared_length(headers: Mapping[str, str]) -> int:
    return int((headers.get("Content-Length") or "0").strip(" \t") or 0)  # plain digits: screened


async def read_body(stream: IOStream, headers: Mapping[str, str], receive: Callable[[bytes], None]) -> None:
    """Read a request's body by its framing (screened), handing each piece to ``receive`` as it arrives.

    ``receive`` may raise a :class:`RefusalError` (a body over its limits); a malformed chunked body raises one.
    """
    if "Transfer-Encoding" not in headers:
        await _read_bytes(stream, declared_length(headers), receive)
        return
    while True:
        size = _CHUNK_SIZE.fullmatch(await stream.read_until(b"\r\n", max_bytes=MAX_CHUNK_LINE))
        if size is None:
            raise refusal(400, MALFORMED_CHUNKS)
        count = int(size[1], 16)
        await _read_bytes(stream, count, receive)
        if await stream.read_bytes(2) != b"\r\n":  # after the last chunk too: no trailer fields
            raise refusal(400, MALFORMED_CHUNKS)
        if count == 0:
            return


async def _read_bytes(stream: IOStream, count: int, receive: Callable[[bytes], None]) -> None:
    while count > 0:
        piece = await stream.read_bytes(min(count, CHUNK_BYTES), partial=True)
        count -= len(piece)
        receive(piece)
