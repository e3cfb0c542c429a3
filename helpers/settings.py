"""Which server to talk to, and with which key: the mode rule in one place.

- ``PERPLEXITY_MODE=live`` forces the real API (a key is then required);
- ``PERPLEXITY_MODE=sandbox`` forces the local sandbox, even when a key is configured;
- ``PERPLEXITY_MODE=auto`` (the default): a configured key means live, no key means sandbox.

``PERPLEXITY_BASE_URL`` overrides where requests go, as the official SDK does: in live mode it
replaces ``https://api.perplexity.ai``; in sandbox mode it points at a shared sandbox (for
example an instructor's) instead of the one started inside the notebook.

In sandbox mode requests always carry the sandbox's demo key, even when a key is configured: no
sandbox ever gets the learner's own key, wherever it listens. Where a key may go at all is decided
by one function, :func:`check_transport`: the configured key is scoped like a browser's cookie, to
the Perplexity API and, in live mode, to the ``PERPLEXITY_BASE_URL`` in force.

Without it, sandbox mode uses the sandbox that notebook setup (:func:`helpers.setup_notebook`)
started and registered with :func:`use_local_sandbox`. This module never starts a sandbox itself:
the client reaches a sandbox over HTTP only.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from helpers.errors import DEFAULT_PORTS, AuthenticationError, TransportSecurityError, TutorialError, proxy_variable
from helpers.keys import KEY_VARIABLE, FoundKey, find_api_key
from helpers.masking import Secret, mask_url, url_credentials

DEFAULT_BASE_URL = "https://api.perplexity.ai"
MODE_VARIABLE = "PERPLEXITY_MODE"
BASE_URL_VARIABLE = "PERPLEXITY_BASE_URL"
MODES = ("auto", "live", "sandbox")
# What every request carries in sandbox mode. Not a secret, and not shaped like a real key.
SANDBOX_DEMO_KEY = "pplx-sandbox-demo-key-not-a-secret"
# In a connector's field (from an imported cURL command, or typed), this text stands for "the configured
# key": the field keeps the reference, never the key, and Test puts in what check_transport allows.
CONFIGURED_KEY = "$" + KEY_VARIABLE

# Where the sandbox started by notebook setup listens (a loopback base URL), or None when none was
# started in this process. Set it with use_local_sandbox(); resolve_settings() reads it.
local_sandbox_url: str | None = None


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings; every repr shows the keys masked (``Secret``, ``FoundKey``).

    ``base_url`` is None in sandbox mode when neither ``PERPLEXITY_BASE_URL`` nor notebook setup
    says where a sandbox listens. ``local_sandbox`` is True when it is the sandbox that notebook setup
    started on this computer (:func:`use_local_sandbox`).
    """

    mode: str
    base_url: str | None
    api_key: Secret  # .reveal() gives the key where a header is built
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
        return (
            f"Mode: sandbox ({MODE_VARIABLE}=sandbox). Requests go to {where} with the sandbox's demo key: "
            "your own key is never sent to a sandbox, not even to one on this computer."
        )


def use_local_sandbox(url: str | None) -> None:
    """Record where the sandbox started by notebook setup listens (None forgets it).

    In sandbox mode without ``PERPLEXITY_BASE_URL``, :func:`resolve_settings` then sends requests
    there. Only a sandbox on this computer may be registered.
    """
    global local_sandbox_url
    base = None if url is None else read_base_url(url, what="The local sandbox's URL")
    if base is not None and not base.is_loopback:
        raise TransportSecurityError(f"The local sandbox must listen on this computer, not on {base.host}.")
    local_sandbox_url = None if base is None else base.url


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
    raw_url = (environ.get(BASE_URL_VARIABLE) or "").strip()
    base_url = read_base_url(raw_url, what=BASE_URL_VARIABLE).url if raw_url else None
    if mode == "live" and key is None:
        raise AuthenticationError(
            f"{MODE_VARIABLE}=live needs an API key. Save one with notebook 01, "
            f"or set the environment variable PERPLEXITY_API_KEY."
        )
    if mode == "live" or (mode == "auto" and key is not None):
        return Settings("live", base_url or DEFAULT_BASE_URL, Secret(key.value), key)
    # No sandbox gets the learner's own key: not a class server, not one reached over https, and
    # not one on this computer's loopback either (on a one-machine JupyterHub every learner shares
    # it, and whoever takes the port first would collect keys). So a proxy or a typo leaks nothing.
    local = base_url is None and local_sandbox_url is not None
    return Settings("sandbox", local_sandbox_url if local else base_url, Secret(SANDBOX_DEMO_KEY), key, local)


# --- where a key may go -----------------------------------------------------------------
# One reading of a URL decides where the key goes: urllib3's, the parser requests itself uses to
# connect. A URL that another parser (urlsplit, curl, a browser) would read differently is refused,
# so "http://remote\@127.0.0.1" can never pass a check as 127.0.0.1 and then connect to "remote".

_PLAIN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.:\[\]-]+(?:/[A-Za-z0-9._~%/+-]*)?")


class BaseUrl(Url):
    """A base URL read once, as urllib3 reads it: ``scheme://host[:port][/path]`` (no user info, query or fragment).

    ``path`` is "" or starts with ``/`` and never ends with one; ``url`` is the whole of it.
    """

    __slots__ = ()

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: what a sentence names as the destination."""
        return Url(self.scheme, host=self.host, port=self.port).url

    def within(self, scope: BaseUrl) -> bool:
        """Whether this URL is ``scope`` or below it, as a cookie's domain and path match: same scheme,
        host and port (a default port written or not), and the path equal to or under scope's path."""
        origins = {(u.scheme, u.host, u.port or DEFAULT_PORTS.get(u.scheme)) for u in (self, scope)}
        return len(origins) == 1 and (self.path == scope.path or self.path.startswith(scope.path + "/"))


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
    return BaseUrl(parts.scheme, host=parts.host, port=parts.port, path=(parts.path or "").rstrip("/"))


def _url_problem(url: str) -> str:
    """Why ``url`` is not a plain base URL, or "" when it is one.

    The pattern admits no user info, query or fragment (no ``@``, ``?`` or ``#`` at all), so what
    :func:`split_url` reads of it is a scheme, a host, a port and a path.
    """
    if not url.isascii() or not url.isprintable() or any(ch.isspace() for ch in url):
        return "it holds spaces, control characters or non-ASCII characters"
    if not _PLAIN_URL.fullmatch(url):
        return "only a scheme, a host, a port and a path are allowed (no user@, '?', '#' or backslash)"
    try:
        parts = split_url(url)
    except AmbiguousUrlError:
        return "two URL parsers read different hosts in it"
    except ValueError:
        return "its host or port cannot be read"
    if parts.scheme not in ("http", "https") or not parts.host:
        return "it must start with https:// (or http:// for a sandbox) and name a host"
    return ""


def _shown(url: str) -> str:
    """The URL as a refusal quotes it: as :func:`~helpers.masking.mask_url` echoes it, in ASCII, and short.

    A refused URL is often refused *because* it holds ``user:password@`` or ``?key=...``: those are masked.
    """
    shown = "".join(ch if ch.isascii() else "?" for ch in mask_url(url))
    return shown if len(shown) <= 80 else shown[:77] + "..."


class AmbiguousUrlError(ValueError):
    """Two URL parsers read different hosts in one URL: the way a check is passed and a key sent elsewhere."""


def split_url(url: str, *, method: str = "GET") -> Url:
    """``url`` in parts (scheme, user info, host, port, path, query, fragment) as written, read once for everyone.

    The host is the one requests connects to (the URL as requests prepares it for ``method``, parsed by
    urllib3), and it must be the host Python's ``urlsplit`` reads too: otherwise
    :class:`AmbiguousUrlError`. A ValueError when no host or port can be read at all. Base URLs
    (:func:`read_base_url`), imported curl commands, a connector's requests and the classroom's
    addresses are all read here.
    """
    try:
        parts = parse_url(url)
        connected = parse_url(requests.Request(method, url).prepare().url)  # exactly what requests connects to
        other_host = urlsplit(url).hostname or ""
    except (LocationParseError, requests.RequestException, ValueError):
        raise ValueError("no host or port can be read in the URL") from None  # the URL may hold a secret
    hosts = {(host or "").strip("[]").lower() for host in (parts.host, connected.host)}
    if connected.host and hosts != {other_host}:
        raise AmbiguousUrlError("two URL parsers read different hosts")
    return parts


# --- where a key may go: one decision -----------------------------------------------------------
# Like a browser's cookie, each key carries its own scope. The configured key (the learner's own)
# goes to the Perplexity API and to the PERPLEXITY_BASE_URL in force in live mode, and nowhere else.
# Code cannot tell who set that variable, so the rule is about the mode, not the person.


def check_transport(url: str, key: str | Secret | None) -> BaseUrl:
    """The one decision of where a key may go: ``url`` read once, or one sentence refusing it.

    - no key, or the sandbox's demo key (no secret): any http(s) address, a class sandbox on
      another computer over plain http included;
    - the configured key (or :data:`CONFIGURED_KEY`, which stands for it): only the Perplexity API
      (``https://api.perplexity.ai``) and, in live mode, the ``PERPLEXITY_BASE_URL`` in force when it
      is https or plain http to this computer. A sandbox in sandbox mode never qualifies;
    - any other secret (another API's key, a password): https anywhere, plain http only to this
      computer, where no one on the way can read it.
    """
    base = read_base_url(url)
    plain = key.reveal() if isinstance(key, Secret) else key or ""
    if not plain or plain == SANDBOX_DEMO_KEY:
        return base
    if _is_configured_key(plain):
        if not any(base.within(scope) for scope in configured_key_scope()):
            raise TransportSecurityError(
                f"Refusing to send your own key to {base.origin}: it goes only to the Perplexity API "
                f"({DEFAULT_BASE_URL}) and, in live mode, to {BASE_URL_VARIABLE} (https, or http on this computer)."
            )
    elif base.scheme != "https" and not base.is_loopback:
        raise TransportSecurityError(
            f"Refusing to send your key to {base.origin}: use an https:// address "
            "(plain http is allowed only for a server on this computer, such as 127.0.0.1)."
        )
    return base


def key_may_go_to(url: str, key: str | Secret | None) -> bool:
    """:func:`check_transport`'s decision as yes or no (a URL that cannot be read: no)."""
    try:
        check_transport(url, key)
    except TransportSecurityError:
        return False
    return True


def configured_key_scope() -> tuple[BaseUrl, ...]:
    """Where the configured key may go: the Perplexity API, and in live mode the ``PERPLEXITY_BASE_URL``
    in force (https, or plain http to this computer). A set-up that does not resolve adds nothing."""
    api = read_base_url(DEFAULT_BASE_URL)
    try:
        settings = resolve_settings()
    except (TutorialError, OSError):  # an unknown mode, live without a key, an unreadable key file: the API alone
        return (api,)
    if settings.mode != "live":
        return (api,)
    live = read_base_url(settings.base_url)
    return (api, live) if live.scheme == "https" or live.is_loopback else (api,)


def configured_key_for(url: str) -> Secret:
    """What :data:`CONFIGURED_KEY` stands for in a request to ``url``, by :func:`check_transport`'s rule.

    The key requests carry in this mode: the sandbox's demo key in sandbox mode, the learner's own
    key in live mode, and then only where that key may go (else one sentence says why not).
    """
    key = resolve_settings().api_key
    check_transport(url, key)
    return key


def _is_configured_key(key: str) -> bool:
    """Whether ``key`` is the learner's own: the configured key, or the reference that stands for it.

    When the key file cannot be read, no key can be told apart from the learner's: each is treated as it.
    """
    if key == CONFIGURED_KEY:
        return True
    try:
        found = find_api_key()
    except (TutorialError, OSError):
        return True
    return found is not None and key == found.value


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this computer (``localhost``, 127.0.0.0/8, ``::1``), as urllib3 writes it."""
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- which proxy carries a request --------------------------------------------------------
# Sessions keep ``trust_env = False``, so requests reads nothing from the environment by itself (it
# would read ``.netrc``, whose password silently replaces the Authorization header). The proxy
# variables are read here instead, the way requests reads them, and checked against one rule.


@dataclass(frozen=True)
class Proxy:
    """A proxy from the environment: ``url`` as requests uses it, and its ``source``.

    The URL may hold ``user:password``: it is left out of the repr.
    """

    url: str = field(repr=False)
    source: str

    def describe(self) -> str:
        """``scheme://host[:port] (from VARIABLE)``: never the user name or password a proxy URL may hold."""
        parts = parse_url(self.url)
        return f"{Url(parts.scheme, host=parts.host, port=parts.port).url} (from {self.source})"

    def secrets(self) -> tuple[str, ...]:
        """What of the proxy URL may be a credential, for :func:`~helpers.masking.redact`."""
        return url_credentials(self.url)


def proxy_for(url: str, *, secret: bool = True) -> Proxy | None:
    """The proxy a request to ``url`` goes through (None: straight there), or one sentence refusing it.

    ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (lower case wins over upper case;
    ``*``, domains, ``host:port`` and CIDR ranges) are read exactly as requests reads them. To an
    https address any proxy is fine: requests opens a ``CONNECT`` tunnel, and the key travels inside
    TLS to the API host. Over plain http the proxy would read the key: a target on this computer is
    reached directly (a proxy elsewhere could not reach it anyway), and a secret key to another
    computer is refused. The demo key, no secret, may pass a proxy to a class sandbox.
    """
    target = parse_url(url)
    scheme = target.scheme or "https"
    if scheme == "http" and is_loopback_host(target.host or ""):
        return None
    proxy = _environment_proxy(scheme, f"{scheme}://{target.netloc}")
    if proxy is not None and scheme == "http" and secret:
        raise TransportSecurityError(
            f"Refusing to send your key to http://{target.host} through the proxy {proxy.describe()}: "
            "over plain http the proxy would read it, so use an https:// address."
        )
    return proxy


def _environment_proxy(scheme: str, origin: str) -> Proxy | None:
    """The proxy the environment names for ``origin`` (NO_PROXY applied), checked to be usable.

    The variable named is the one urllib reads first: ``https_proxy`` before ``HTTPS_PROXY``.
    """
    proxies = requests.utils.get_environ_proxies(origin, no_proxy=None)
    kind = next((name for name in (scheme, "all") if proxies.get(name)), None)
    if kind is None:
        return None
    source = proxy_variable(origin) or "the system's proxy settings"
    url = _proxy_url(proxies[kind])
    if url is None:
        raise TransportSecurityError(
            f"The proxy in {source} cannot be used: write it as http://host:port (or unset {source})."
        )
    return Proxy(url, source)


def _proxy_url(value: str) -> str | None:
    """``value`` as requests will use it (``http://`` added when no scheme is given), or None when unusable.

    SOCKS proxies are usable only with PySocks (``pip install 'requests[socks]'``).
    """
    socks = ("socks4", "socks4a", "socks5", "socks5h") if importlib.util.find_spec("socks") else ()
    try:
        url = requests.utils.prepend_scheme_if_needed(value.strip(), "http")
        parts = parse_url(url)
    except (LocationParseError, ValueError):
        return None
    return url if parts.host and parts.scheme in ("http", "https", *socks) else None
