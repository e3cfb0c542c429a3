"""The sandbox's own key rules: which ``Authorization`` keys it accepts, and how it hides keys it echoes or logs.

These rules mirror the public Perplexity key format on purpose; they are written here rather than
taken from the tutorial's client (``helpers.keys``). The sandbox stands in for the real service,
so a test of the client against the sandbox must not confirm the client's rules with the client's
own code: if the two ever disagree, that test fails instead of passing silently.

Masking follows the same public convention as the client's (``pplx-...abcd``: the prefix and the
last four characters), so a learner recognises their key in either place.
"""

from __future__ import annotations

import hashlib
import re

KEY_PREFIX = "pplx-"
# Real keys are "pplx-" plus 48 characters; the service allows some slack, and so does the sandbox.
MIN_KEY_LENGTH = 20  # the prefix included
MAX_KEY_LENGTH = 200
MASK = KEY_PREFIX + "..."

# A key as the service issues it: the prefix, then letters, digits, "_" or "-".
_KEY_SHAPE = re.compile(rf"{re.escape(KEY_PREFIX)}[A-Za-z0-9_\-]{{{MIN_KEY_LENGTH - len(KEY_PREFIX)},}}")
# The sandbox accepts any ASCII after the prefix, wider than the shape above: any word that starts like a
# key and is as long as one (any case, up to a space, quote or URL delimiter) is cut too.
_KEY_LIKE = re.compile(rf"{re.escape(KEY_PREFIX)}[^\s\"'/?&#]{{{MIN_KEY_LENGTH - len(KEY_PREFIX)},}}", re.IGNORECASE)


def is_well_formed(key: str) -> bool:
    """The prefix, then any ASCII without spaces: 20..200 characters in all, the prefix included.

    Looser than the published format on purpose (any ASCII after the prefix), so that tests and faults
    can use keys such as ``pplx-revoked...``; the prefix and the lengths are the published ones.
    """
    return (
        key.startswith(KEY_PREFIX)
        and MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH
        and key.isascii()
        and not any(c.isspace() for c in key)
    )


def mask(key: str) -> str:
    """``pplx-...abcd``: enough to recognise a key, never enough to use it."""
    return MASK + key[-4:]


def scrub(text: str) -> str:
    """``text`` with every key-shaped word masked (``pplx-...abcd``), any other key-like word cut to ``pplx-...``."""
    return _KEY_LIKE.sub(MASK, _KEY_SHAPE.sub(lambda m: mask(m.group(0)), text))


def key_fingerprint(key: str) -> str:
    """A short one-way label for a key (``key#1a2b3c4d``): tells keys apart in logs without showing them."""
    return "key#" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:8]


def key_owner(key: str) -> str:
    """Who a stored run belongs to: the key's whole SHA-256, one-way, and never shown (unlike the fingerprint).

    The fingerprint's 8 hex digits tell keys apart in a log; deciding who may read a run needs all 64.
    """
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
