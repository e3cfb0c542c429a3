"""Which server to talk to, and with which key: the mode rule in one place.

- ``PERPLEXITY_MODE=live`` forces the real API (a key is then required);
- ``PERPLEXITY_MODE=sandbox`` forces the local sandbox, even when a key is configured;
- ``PERPLEXITY_MODE=auto`` (the default): a configured key means live, no key means sandbox.

``PERPLEXITY_BASE_URL`` overrides where requests go, as the official SDK does: in live mode it
replaces ``https://api.perplexity.ai``; in sandbox mode it points at a shared sandbox (for
example an instructor's) instead of starting one inside the notebook.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from helpers.errors import AuthenticationError, TutorialError
from helpers.keys import FoundKey, find_api_key, mask_key

DEFAULT_BASE_URL = "https://api.perplexity.ai"
MODE_VARIABLE = "PERPLEXITY_MODE"
BASE_URL_VARIABLE = "PERPLEXITY_BASE_URL"
MODES = ("auto", "live", "sandbox")
# Sent to the sandbox when no key is configured. Not a secret, and not shaped like a real key.
SANDBOX_DEMO_KEY = "pplx-sandbox-demo-key-not-a-secret"


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings. ``base_url`` is None for the built-in sandbox."""

    mode: str
    base_url: str | None
    api_key: str
    key: FoundKey | None

    @property
    def is_sandbox(self) -> bool:
        return self.mode == "sandbox"

    def describe(self) -> str:
        """One line for the learner: which server, and which key (masked)."""
        if not self.is_sandbox:
            return (f"Mode: live. Requests go to {self.base_url} "
                    f"with the key {self.key.masked} from the {self.key.source}.")
        where = "the built-in sandbox on this computer" if self.base_url is None else f"the sandbox at {self.base_url}"
        if self.key is None:
            return f"Mode: sandbox. No API key is configured, so requests go to {where}. Answers are simulated."
        if self.api_key == SANDBOX_DEMO_KEY:
            return (f"Mode: sandbox ({MODE_VARIABLE}=sandbox). Requests go to {where} with the sandbox's "
                    "demo key: your own key stays on this computer.")
        return f"Mode: sandbox ({MODE_VARIABLE}=sandbox). Requests go to {where} with the key {mask_key(self.api_key)}."

    def __repr__(self) -> str:
        return f"Settings(mode={self.mode!r}, base_url={self.base_url!r}, api_key={mask_key(self.api_key)!r})"


def resolve_settings(environ: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Apply the mode rule to the environment and the project's ``.env``."""
    environ = os.environ if environ is None else environ
    mode = environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise TutorialError(f"{MODE_VARIABLE} is '{mode}', but it must be one of: {', '.join(MODES)}.")
    key = find_api_key(environ, env_file)
    base_url = (environ.get(BASE_URL_VARIABLE) or "").strip().rstrip("/") or None
    if mode == "live" and key is None:
        raise AuthenticationError(
            f"{MODE_VARIABLE}=live needs an API key. Save one with notebook 01, "
            f"or set the environment variable PERPLEXITY_API_KEY."
        )
    if mode == "sandbox" or (mode == "auto" and key is None):
        # A sandbox on another computer (a class server) never gets the learner's own key.
        remote = base_url is not None and not is_loopback_host(urlsplit(base_url).hostname or "")
        return Settings("sandbox", base_url, key.value if key and not remote else SANDBOX_DEMO_KEY, key)
    return Settings("live", base_url or DEFAULT_BASE_URL, key.value, key)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this computer (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
