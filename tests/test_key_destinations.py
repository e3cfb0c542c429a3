"""Where a key may go: one reading of a URL (urllib3's, the one requests connects with) decides.

The property: whenever ``key_may_go_to(url)`` says yes, the host that requests would really
connect to is this computer, or the scheme is https. The socket guard (tests/network_guard.py,
on for every test) records and refuses anything else, so these tests send nothing off the machine.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from helpers.client import PerplexityClient
from helpers.errors import TransportSecurityError
from helpers.settings import SANDBOX_DEMO_KEY, key_may_go_to, read_base_url, resolve_settings
from tests.support import FAKE_KEY

REMOTE = "attacker.invalid"
SMUGGLED = [
    f"http://{REMOTE}:80\\@127.0.0.1",
    f"http://{REMOTE}:80\\@127.0.0.1:8000/v1",
    f"http://{REMOTE}%2F@127.0.0.1",
    f"http://{REMOTE}#@127.0.0.1",
    f"http://{REMOTE}?@127.0.0.1",
    f"http://127.0.0.1@{REMOTE}",
    f"http://127.0.0.1:80@{REMOTE}/",
    f"http://{REMOTE}\t@127.0.0.1",
    f"http://{REMOTE} @127.0.0.1",
    "http://127。0。0。1",
    f"HTTP://{REMOTE}",
]


def connect_target(url: str) -> tuple[str, str] | None:
    """(scheme, host) that requests + urllib3 would connect to for ``url``, or None if they refuse it."""
    try:
        prepared = requests.Request("GET", url).prepare().url
        parts = parse_url(prepared)
    except Exception:  # requests or urllib3 refuses the URL: nothing would be sent
        return None
    return (parts.scheme or "", parts.host or "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- the property -----------------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "http",
        "https",
        "HTTP",
        "Https",
        "ftp",
        "://",
        ":",
        "/",
        "//",
        "\\",
        "@",
        "#",
        "?",
        "%2F",
        "%40",
        "%5C",
        " ",
        "\t",
        "\n",
        "\x00",
        "\x7f",
        "[",
        "]",
        "::1",
        "[::1]",
        "127.0.0.1",
        "localhost",
        "LOCALHOST",
        REMOTE,
        "api.perplexity.ai",
        "。",
        "．",
        "\u200b",
        "user:pw",
        ":8000",
        ":0",
        ":99999",
        "xn--",
        ".",
        "0x7f.1",
        "127.1",
    ]
)
URLS = st.one_of(
    st.lists(PIECES, min_size=1, max_size=12).map("".join),
    st.builds(
        lambda scheme, tail: f"{scheme}://{tail}",
        st.sampled_from(["http", "https", "HTTP"]),
        st.lists(PIECES, min_size=1, max_size=8).map("".join),
    ),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(URLS)
@example(f"http://{REMOTE}:80\\@127.0.0.1")
@example("http://[::1]:8000/v1")
def test_a_key_goes_only_where_urllib3_connects_to_this_computer_or_over_https(url: str) -> None:
    if not key_may_go_to(url, FAKE_KEY):  # a secret, but not the configured key: the widest rule for a secret
        return
    target = connect_target(read_base_url(url).url)
    assert target is not None
    scheme, host = target
    assert scheme == "https" or is_loopback(host), f"{url!r} would send the key to {host!r} over {scheme}"
    assert connect_target(url) == target  # the URL as given and as used connect to the same place


@settings(max_examples=300, deadline=None)
@given(URLS)
def test_the_reading_is_the_one_urllib3_makes(url: str) -> None:
    try:
        base = read_base_url(url)
    except TransportSecurityError as error:
        # One sentence, on one line; the quoted URL itself may hold ". " (hypothesis found "'. '").
        unquoted = re.sub(r"^The base URL '.*' is not usable", "", str(error), flags=re.DOTALL)
        assert unquoted.count(". ") <= 1 and "\n" not in str(error)
        return
    assert connect_target(url) == (base.scheme, base.host)


@pytest.mark.parametrize("url", SMUGGLED)
def test_smuggled_hosts_are_refused_with_one_sentence(url: str) -> None:
    assert not key_may_go_to(url, FAKE_KEY)
    with pytest.raises(TransportSecurityError) as caught:
        PerplexityClient(FAKE_KEY, url)
    assert "Write it as https://host[:port][/path]." in str(caught.value) or "Refusing" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:8000/",
        "http://[::1]:9/x",
        "https://api.perplexity.ai",
        "HTTPS://API.PERPLEXITY.AI/",
    ],
)
def test_ordinary_base_urls_still_work(url: str) -> None:
    assert key_may_go_to(url, FAKE_KEY)


def test_plain_http_to_another_computer_carries_only_the_demo_key() -> None:
    assert not key_may_go_to("http://192.0.2.10:8000", FAKE_KEY)
    assert key_may_go_to("http://192.0.2.10:8000", SANDBOX_DEMO_KEY)
    PerplexityClient(SANDBOX_DEMO_KEY, "http://192.0.2.10:8000")  # accepted: it is no secret


# --- the report's case, end to end: live mode, sandbox mode, doctor ------------------------------


@pytest.mark.parametrize("mode", ["live", "sandbox"])
def test_a_smuggling_base_url_is_refused_in_every_mode(mode: str, off_machine_attempts: list[str]) -> None:
    environ = {
        "PERPLEXITY_API_KEY": FAKE_KEY,
        "PERPLEXITY_MODE": mode,
        "PERPLEXITY_BASE_URL": f"http://{REMOTE}:8000\\@127.0.0.1",
    }
    with pytest.raises(TransportSecurityError) as caught:
        resolve_settings(environ)
    assert FAKE_KEY not in str(caught.value)
    assert off_machine_attempts == []


def test_doctor_reports_the_smuggling_base_url_and_sends_nothing() -> None:
    environ = {
        "PERPLEXITY_API_KEY": FAKE_KEY,
        "PERPLEXITY_MODE": "live",
        "PATH": "/usr/bin:/bin",
        "PERPLEXITY_BASE_URL": f"http://{REMOTE}:8000\\@127.0.0.1",
        "PERPLEXITY_ENV_FILE": "/nonexistent/.env",
    }
    # A child process, so its sockets are real: REMOTE ends in .invalid and never resolves.
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "doctor"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "All good" not in output and "PERPLEXITY_BASE_URL" in output and "is not usable" in output
    assert FAKE_KEY not in output
    assert done.returncode != 0
