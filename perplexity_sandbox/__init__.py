"""A faithful local sandbox of the Perplexity API, served over real HTTP on this computer.

``core`` answers one request with no socket in it (:class:`~perplexity_sandbox.core.SandboxCore`: a request in,
a response or a stream of events out), for the HTTP server and for any caller in-process. ``server`` is the HTTP
side (:class:`Sandbox`, :func:`shared_sandbox`), on tornado's public API: ``capped_server`` accepts connections
(the cap on them, deadlines, refusals), ``wire_request`` carries one request from head to answer, ``http1`` the
strict wire format, ``pacer`` the pace of streamed events, ``limits`` the class-scale limits; ``api`` is the
endpoints' rules, ``validation`` the request checks, ``answers`` the deterministic answers, ``replies`` the error
envelope, ``faults`` the failures it stages on request, ``classroom`` a class sandbox's roster, and ``keys`` its own
key rules. Clients reach it over HTTP only; ``python -m perplexity_sandbox`` serves one from the command line (see
``docs/sandbox.md``).
This package depends on nothing in the tutorial's ``helpers``.
"""

from typing import Any

from perplexity_sandbox.faults import DELAY_HEADER, FAULT_HEADER, FAULTS

__all__ = ["DELAY_HEADER", "FAULTS", "FAULT_HEADER", "NOTEBOOK_STREAM_DELAY", "Sandbox", "shared_sandbox"]
_SERVER_NAMES = ("NOTEBOOK_STREAM_DELAY", "Sandbox", "shared_sandbox")


def __getattr__(name: str) -> Any:
    """The HTTP server's names, imported on first use (PEP 562): ``perplexity_sandbox.core`` alone needs no tornado."""
    if name in _SERVER_NAMES:
        from perplexity_sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module 'perplexity_sandbox' has no attribute {name!r}")
