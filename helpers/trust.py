"""Which certificates HTTPS connections trust: a CA bundle named by the environment, else the system's store.

Behind a TLS-inspecting proxy (common on corporate laptops) the proxy's own root certificate signs
every site. It is installed in the operating system's store, or handed out as a file named by
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``. Python's default (certifi's bundle)
knows neither, so every request would fail certificate verification.

- :func:`ca_bundle_from_environment`: the file the environment names, honoured by the package's client;
- :func:`use_system_store`: the operating system's store through ``truststore`` (as pip does), injected
  by :func:`helpers.setup_notebook` so the taught ``requests.post`` and both SDKs trust it too. Never on
  import: importing ``helpers`` changes nothing in the process.
"""

from __future__ import annotations

import os
import ssl

# The order requests, curl and OpenSSL users expect: requests' own variable first.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def ca_bundle_from_environment() -> tuple[str, str] | None:
    """``(path, variable)`` for the first of :data:`CA_VARIABLES` that is set (not empty), else None."""
    for name in CA_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return None


def _system_store_active() -> bool:
    """Whether ``truststore`` is injected into :mod:`ssl` (by us or by anyone else in this process)."""
    try:
        import truststore
    except ImportError:
        return False
    return ssl.SSLContext is truststore.SSLContext


def use_system_store() -> bool:
    """Make every new TLS connection in this process trust the operating system's store; returns whether it does.

    Idempotent: a second call changes nothing. Without ``truststore`` (not installed) it does nothing
    and returns False: certifi's bundle stays in use.
    """
    try:
        import truststore
    except ImportError:
        return False
    if not _system_store_active():
        truststore.inject_into_ssl()
    return True


def describe_ca_source() -> str:
    """One sentence naming the certificates that HTTPS requests trust in this process."""
    bundle = ca_bundle_from_environment()
    if bundle is not None:
        path, variable = bundle
        missing = "" if os.path.isfile(path) else " (no such file: requests will fail until it exists)"
        return f"HTTPS certificates are checked against {variable}={path}{missing}."
    if _system_store_active():
        return "HTTPS certificates are checked against the operating system's certificate store (through truststore)."
    return (
        "HTTPS certificates are checked against certifi's bundle (the operating system's store is not in use: "
        "run helpers.setup_notebook() first)."
    )


def verification_advice(host: str) -> str:
    """One sentence for a failed certificate check on ``host``: what to set so it passes."""
    bundle = ca_bundle_from_environment()
    if bundle is not None:
        path, variable = bundle
        return (
            f"The certificate of {host} could not be verified with {variable}={path}: check that this file holds "
            "your network's root certificate (PEM), or unset the variable to use the operating system's store."
        )
    return (
        f"The certificate of {host} could not be verified: on a network that inspects HTTPS (a corporate proxy), "
        "set REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) to a file holding its root certificate (PEM), "
        "or ask IT to install it in the operating system's store."
    )
