"""No plain key in a traceback: a verbose one (``%xmode Verbose``, a debugger) prints every frame's locals.

The key travels as a :class:`~helpers.masking.Secret` and becomes a header only inside requests
(:class:`~helpers.client.BearerAuth`), as a value whose repr is masked; so an unexpected error at
any depth of a send, formatted with all local variables, shows ``pplx-...`` and never the key.
"""

from __future__ import annotations

import sys

import pytest
import requests.adapters
import urllib3.connectionpool
from IPython.core.ultratb import VerboseTB

from helpers.client import PerplexityClient
from helpers.masking import MaskedHeaderValue, Secret, mask_key
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY


class BoomError(RuntimeError):
    """An unexpected bug somewhere below our code."""


def verbose_traceback() -> str:
    etype, value, tb = sys.exc_info()
    return "\n".join(VerboseTB(theme_name="nocolor").structured_traceback(etype, value, tb))


def fail(*args: object, **kwargs: object) -> None:
    raise BoomError("unexpected")


# Where the bug strikes: in requests' adapter (our frames and requests' above it), and deep in urllib3
# (its frames hold the headers dict that goes on the wire).
DEPTHS = [(requests.adapters.HTTPAdapter, "send"), (urllib3.connectionpool.HTTPConnectionPool, "_make_request")]


@pytest.mark.parametrize(("owner", "name"), DEPTHS)
def test_a_verbose_traceback_of_a_send_shows_only_the_mask(
    owner: type, name: str, monkeypatch: pytest.MonkeyPatch, module_sandbox: Sandbox
) -> None:
    monkeypatch.setattr(owner, name, fail)
    with PerplexityClient(FAKE_KEY, module_sandbox.url, max_retries=0) as client:
        try:
            client.create_response("hello")
        except BoomError:
            text = verbose_traceback()
    assert "ClientTransport.send(" in text and "headers" in text  # the frames and their locals were really printed
    assert mask_key(FAKE_KEY) in text
    assert FAKE_KEY not in text


def test_the_secret_and_the_header_value_mask_themselves() -> None:
    secret = Secret(FAKE_KEY)
    header = MaskedHeaderValue("Bearer " + secret.reveal())
    for shown in (repr(secret), str(secret), f"{secret}", repr(header), repr({"Authorization": header})):
        assert FAKE_KEY not in shown and mask_key(FAKE_KEY) in shown
    assert header == "Bearer " + FAKE_KEY  # what goes on the wire is the real header
    assert header.encode("latin-1") == f"Bearer {FAKE_KEY}".encode()
