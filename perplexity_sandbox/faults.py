"""Fault injection: make the sandbox fail on purpose, to teach and to test error handling.

Per request, send the header ``X-Sandbox-Fault: <name>``; for a whole server, start it with
``Sandbox(fault=<name>)`` or ``python -m perplexity_sandbox --fault <name>``. The per-request
header wins. ``X-Sandbox-Delay: <seconds>`` sets the pause of ``slow`` (default 3 s).

Both header names are part of the sandbox's documented HTTP interface (``docs/sandbox.md``): clients
such as the tutorial's playground write them literally and never import them from here.
"""

from __future__ import annotations

from perplexity_sandbox.replies import Reply, error_reply

FAULT_HEADER = "X-Sandbox-Fault"
DELAY_HEADER = "X-Sandbox-Delay"
DEFAULT_DELAY_SECONDS = 3.0
RETRY_AFTER_SECONDS = 1

# name -> what it does (shown by --help and in the README)
FAULTS = {
    "rate_limit": "HTTP 429 request_rate_limit_exceeded with Retry-After",
    "server_error": "HTTP 500 internal_error",
    "bad_gateway": "HTTP 502 bad_gateway",
    "unavailable": "HTTP 503 service_unavailable",
    "gateway_timeout": "HTTP 504 gateway_timeout",
    "failed": "HTTP 200 with status 'failed' and an error (Agent API)",
    "slow": "answer normally after a pause (X-Sandbox-Delay seconds)",
    "drop": "close the connection without answering",
    "truncate_stream": "stop a streamed answer half-way, with no terminal event",
}

_STATUS_FAULTS = {
    "rate_limit": (429, "Rate limit exceeded. Please retry after a short wait.", "request_rate_limit_exceeded"),
    "server_error": (500, "Internal server error.", "internal_error"),
    "bad_gateway": (502, "Bad gateway.", "bad_gateway"),
    "unavailable": (503, "Service temporarily unavailable.", "service_unavailable"),
    "gateway_timeout": (504, "Gateway timeout.", "gateway_timeout"),
}


def status_fault_reply(name: str) -> Reply | None:
    """The error reply for a fault that is just a status, or None for the other faults."""
    if name not in _STATUS_FAULTS:
        return None
    status, message, kind = _STATUS_FAULTS[name]
    reply = error_reply(status, message, kind)
    if status == 429:
        reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return reply
