"""Which server to talk to, and with which key: the mode rule in one place.

- ``PERPLEXITY_MODE=live`` forces the real API (a key is then required);
- ``PERPLEXITY_MODE=sandbox`` forces the local sandbox, even when a key is configured;
- ``PERPLEXITY_MODE=auto`` (the default): a configured key means live, no key means sandbox.

``PERPLEXITY_BASE_URL`` overrides where requests go, as the official SDK does: in live mode it
replaces ``https://api.perplexity.ai``; in sandbox mode it points at a shared sandbox (for
example an instructor's) instead of the one started inside the notebook.

Without it, sandbox mode uses the sandbox that notebook setup (:func:`helpers.setup_notebook`)
started and registered with :func:`use_local_sandbox`. This module never starts a sandbox itself:
the client reaches a sandbox over HTTP only.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from helpers.errors import AuthenticationError, TransportSecurityError, TutorialError
from helpers.keys import FoundKey, find_api_key, mask_key
from helpers.masking import Secret

DEFAULT_BASE_URL = "https://api.perplexity.ai"
MODE_VARIABLE = "PERPLEXITY_MODE"
BASE_URL_VARIABLE = "PERPLEXITY_BASE_URL"
MODES = ("auto", "live", "sandbox")
# Sent to the sandbox when no key is configured. Not a secret, and not shaped like a real key.
SANDBOX_DEMO_KEY = "pplx-sandbox-demo-key-not-a-secret"

# Where the sandbox started by notebook setup listens (a loopback base URL), or None when none was
# started in this process. Set it with use_local_sandbox(); resolve_settings() reads it.
local_sandbox_url: str | None = None


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings.

    ``base_url`` is None in sandbox mode when neither ``PERPLEXITY_BASE_URL`` nor notebook setup
    says where a sandbox listens. ``local_sandbox`` is True when it is the sandbox that notebook setup
    started on this computer (:func:`use_local_sandbox`).
    """

    mode: str
    base_url: str | None
    api_key: Secret  # masked in every repr; .reveal() gives the key where a header is built
    key: FoundKey | None
    local_sandbox: bool = False

    @property
    def is_sandbox(self) -> bool:
        return self.mode == "sandbox"

    def describe(self) -> str:
        """One line for the learner: which server, and which key (masked)."""
        if not self.is_sandbox:
            return (
                f"Mode: live. Requests go to {self.base_url} with the key {self.key.masked} from the {self.key.source}."
            )
        builtin = self.base_url is None or self.local_sandbox
        where = "the built-in sandbox on this computer" if builtin else f"the sandbox at {self.base_url}"
        if self.key is None:
            return f"Mode: sandbox. No API key is configured, so requests go to {where}. Answers are simulated."
        if self.api_key.reveal() == SANDBOX_DEMO_KEY:
            return (
                f"Mode: sandbox ({MODE_VARIABLE}=sandbox). Requests go to {where} with the sandbox's "
                "demo key: your own key stays on this computer."
            )
        return f"Mode: sandbox ({MODE_VARIABLE}=sandbox). Requests go to {where} with the key {mask_key(self.api_key)}."

    def __repr__(self) -> str:
        return f"Settings(mode={self.mode!r}, base_url={self.base_url!r}, api_key={mask_key(self.api_key)!r})"


def use_local_sandbox(url: str | None) -> None:
    """Record where the sandbox started by notebook setup listens (None forgets it).

    In sandbox mode without ``PERPLEXITY_BASE_URL``, :func:`resolve_settings` then sends requests
    there. Only a sandbox on this computer may be registered.
    """
    global local_sandbox_url
    if url is None:
        local_sandbox_url = None
        return
    base = read_base_url(url, what="The local sandbox's URL")
    if not base.is_loopback:
        raise TransportSecurityError(f"The local sandbox must listen on this computer, not on {base.host}.")
    local_sandbox_url = base.url


def resolve_settings(environ: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Apply the mode rule to the environment and the project's ``.env``.

    In sandbox mode without ``PERPLEXITY_BASE_URL``, ``base_url`` is the sandbox registered with
    :func:`use_local_sandbox`, or None when notebook setup has started none.
    """
    environ = os.environ if environ is None else environ
    mode = environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise TutorialError(f"{MODE_VARIABLE} is '{mode}', but it must be one of: {', '.join(MODES)}.")
    key = find_api_key(environ, env_file)
    base_url = _base_url_from(environ)
    if mode == "live" and key is None:
        raise AuthenticationError(
            f"{MODE_VARIABLE}=live needs an API key. Save one with notebook 01, "
            f"or set the environment variable PERPLEXITY_API_KEY."
        )
    if mode == "sandbox" or (mode == "auto" and key is None):
        # A sandbox on another computer (a class server) never gets the learner's own key.
        remote = base_url is not None and not read_base_url(base_url).is_loopback
        api_key = Secret(key.value if key and not remote else SANDBOX_DEMO_KEY)
        if base_url is None and local_sandbox_url is not None:
            return Settings("sandbox", local_sandbox_url, api_key, key, local_sandbox=True)
        return Settings("sandbox", base_url, api_key, key)
    return Settings("live", base_url or DEFAULT_BASE_URL, Secret(key.value), key)


def _base_url_from(environ: dict[str, str] | os._Environ) -> str | None:
    raw = (environ.get(BASE_URL_VARIABLE) or "").strip()
    return read_base_url(raw, what=BASE_URL_VARIABLE).url if raw else None


# --- where a key may go -----------------------------------------------------------------
# One reading of a URL decides where the key goes: urllib3's, the parser requests itself uses to
# connect. A URL that another parser (urlsplit, curl, a browser) would read differently is refused,
# so "http://remote\@127.0.0.1" can never pass a check as 127.0.0.1 and then connect to "remote".

_PLAIN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.:\[\]-]+(?:/[A-Za-z0-9._~%/+-]*)?")


@dataclass(frozen=True)
class BaseUrl:
    """A base URL read once: ``scheme://host[:port][/path]``, nothing else."""

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def url(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


def read_base_url(url: str, *, what: str = "The base URL") -> BaseUrl:
    """Read ``url`` the way requests will connect to it; refuse anything but ``scheme://host[:port][/path]``.

    Refused, with one sentence: user info (``user@``), a query or fragment, a backslash, spaces or
    control characters, non-ASCII (write the host in its ``xn--`` form), another scheme than http(s),
    and any URL that Python's ``urlsplit`` reads with another host than urllib3 does.
    """
    problem = _url_problem(url)
    if problem:
        raise TransportSecurityError(
            f"{what} '{_shown(url)}' is not usable: {problem}. Write it as https://host[:port][/path]."
        )
    parts = parse_url(url)
    path = (parts.path or "").rstrip("/")
    return BaseUrl(parts.scheme, parts.host, parts.port, path)


def _url_problem(url: str) -> str:
    """Why ``url`` is not a plain base URL, or "" when it is one."""
    if not url.isascii() or not url.isprintable() or any(ch.isspace() for ch in url):
        return "it holds spaces, control characters or non-ASCII characters"
    if not _PLAIN_URL.fullmatch(url):
        return "only a scheme, a host, a port and a path are allowed (no user@, '?', '#' or backslash)"
    try:
        parts = parse_url(requests.Request("GET", url).prepare().url)  # exactly what requests connects to
        other_host = urlsplit(url).hostname
    except (LocationParseError, requests.RequestException, ValueError):
        return "its host or port cannot be read"
    if parts.scheme not in ("http", "https") or not parts.host:
        return "it must start with https:// (or http:// for a sandbox) and name a host"
    if parts.auth or parts.query is not None or parts.fragment is not None:
        return "only a scheme, a host, a port and a path are allowed (no user@, '?' or '#')"
    if (other_host or "") != parts.host.strip("[]").lower():
        return "two URL parsers read different hosts in it"
    return ""


def _shown(url: str) -> str:
    """The URL as a sentence may quote it: printable, short."""
    text = "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in url)
    return text if len(text) <= 80 else text[:77] + "..."


def key_may_go_to(url: str, *, secret: bool = True) -> bool:
    """Whether a key may be sent to ``url``: https anywhere, plain http only to this computer.

    A key that is no secret (the sandbox's demo key) may also use plain http to another computer,
    so that a class can share one sandbox on the instructor's machine.
    """
    try:
        base = read_base_url(url)
    except TransportSecurityError:
        return False
    return base.scheme == "https" or base.is_loopback or not secret


def check_transport(url: str, *, secret: bool = True) -> BaseUrl:
    """Return ``url`` read once, or raise :class:`TransportSecurityError` when the key may not go there."""
    base = read_base_url(url)
    if not key_may_go_to(base.url, secret=secret):
        raise TransportSecurityError(
            f"Refusing to send your key to {base.scheme}://{base.host}: use an https:// address "
            "(plain http is allowed only for the local sandbox on 127.0.0.1)."
        )
    return base


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this computer (``localhost``, 127.0.0.0/8, ``::1``), as urllib3 writes it."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
