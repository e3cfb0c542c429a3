"""A faithful local sandbox of the Perplexity API (see ``server`` for the HTTP side, ``api`` for the rules)."""

from helpers.sandbox.server import Sandbox, shared_sandbox

__all__ = ["Sandbox", "shared_sandbox"]
