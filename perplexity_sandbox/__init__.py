"""A faithful local sandbox of the Perplexity API, served over real HTTP on this computer.

``server`` is the HTTP side (:class:`Sandbox`, :func:`shared_sandbox`), on tornado: ``http1`` its connections
(strict heads, the cap on connections), ``exchange`` one request from head to answer, ``pacer`` the pace of
streamed events, ``limits`` the class-scale limits; ``api`` is the endpoints' rules,
``validation`` the request checks, ``answers`` the deterministic answers, ``replies`` the error envelope,
``faults`` the failures it stages on request, and ``keys`` its own key rules. Clients reach it over HTTP
only; ``python -m perplexity_sandbox`` serves one from the command line (see ``docs/sandbox.md``).
This package depends on nothing in the tutorial's ``helpers``.
"""

from perplexity_sandbox.faults import DELAY_HEADER, FAULT_HEADER, FAULTS
from perplexity_sandbox.server import NOTEBOOK_STREAM_DELAY, Sandbox, shared_sandbox

__all__ = ["DELAY_HEADER", "FAULTS", "FAULT_HEADER", "NOTEBOOK_STREAM_DELAY", "Sandbox", "shared_sandbox"]
