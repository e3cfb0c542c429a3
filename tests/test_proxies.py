"""Proxies: the environment's proxy variables are honoured, by one rule, and never at the key's expense.

The rule is :func:`helpers.settings.proxy_for`; the client and the connector's Test both use it. All
traffic stays on this computer: requests are captured at the adapter (nothing is sent), or go
through a small CONNECT proxy on 127.0.0.1 (``tests.support.ConnectProxy``).
"""

from __future__ import annotations

import base64
import io
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import truststore
import urllib3

from helpers import errors, setup_notebook
from helpers import settings as settings_module
from helpers.client import PerplexityClient
from helpers.connector import Connector, HttpAction, ParamAuth, agent_action, guide_connector, run_test
from helpers.doctor import PROBLEM, check_proxy, format_report, run_checks
from helpers.settings import SANDBOX_DEMO_KEY, Proxy, proxy_for, resolve_settings
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY, OTHER_KEY, ConnectProxy, EchoServer, TcpEcho, fast_client, unused_url
from tests.tls_server import HttpsServer, TestAuthority

API = "https://api.perplexity.ai"
PROXY = "http://proxy.example:3128"
PROXY_PASSWORD = "pr0xy-pa55word"
REFUSED_PLAIN = "over plain http the proxy would read it"
UNUSABLE = "cannot be used: write it as http://host:port"


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without proxy settings, whatever the developer's shell holds."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUEST_METHOD", "NETRC"):
            monkeypatch.delenv(name)


def set_environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


# --- (a) the rule, as a table (no network) -------------------------------------------------

# (variables, target URL, the key is a secret, expected: None, (proxy URL, variable), or a refusal's words)
RULES = [
    ({}, API, True, None),
    ({"HTTPS_PROXY": PROXY}, API, True, (PROXY, "HTTPS_PROXY")),
    ({"https_proxy": PROXY}, API, True, (PROXY, "https_proxy")),
    ({"HTTPS_PROXY": "http://upper:1", "https_proxy": PROXY}, API, True, (PROXY, "https_proxy")),
    ({"HTTPS_PROXY": "http://upper:1", "https_proxy": ""}, API, True, None),  # an empty lower-case one switches off
    ({"HTTP_PROXY": PROXY}, API, True, None),  # HTTP_PROXY is for http:// targets only
    ({"ALL_PROXY": PROXY}, API, True, (PROXY, "ALL_PROXY")),
    ({"all_proxy": "http://all:1", "HTTPS_PROXY": PROXY}, API, True, (PROXY, "HTTPS_PROXY")),
    ({"HTTPS_PROXY": ""}, API, True, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, API, True, None),
    ({"HTTPS_PROXY": PROXY, "no_proxy": "perplexity.ai"}, API, True, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": ".perplexity.ai"}, API, True, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "example.com, other.org"}, API, True, (PROXY, "HTTPS_PROXY")),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "api.example.test:8443"}, "https://api.example.test:8443", True, None),
    (
        {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.example.test:9999"},
        "https://api.example.test:8443",
        True,
        (PROXY, "HTTPS_PROXY"),
    ),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "10.0.0.0/8"}, "https://10.1.2.3", True, None),
    ({"HTTPS_PROXY": "proxy.example:3128"}, API, True, (PROXY, "HTTPS_PROXY")),  # no scheme: http, as requests
    ({"HTTPS_PROXY": "https://proxy.example"}, API, True, ("https://proxy.example", "HTTPS_PROXY")),
    (
        {"HTTPS_PROXY": f"http://learner:{PROXY_PASSWORD}@proxy.example:3128"},
        API,
        True,
        (f"http://learner:{PROXY_PASSWORD}@proxy.example:3128", "HTTPS_PROXY"),
    ),
    ({"HTTPS_PROXY": PROXY}, "https://127.0.0.1:8443", True, (PROXY, "HTTPS_PROXY")),  # inside TLS: tunnelled
    ({"HTTP_PROXY": PROXY, "ALL_PROXY": PROXY}, "http://127.0.0.1:8000", True, None),  # loopback: straight there
    ({"HTTP_PROXY": PROXY}, "http://localhost:8000", True, None),
    ({"HTTP_PROXY": PROXY}, "http://[::1]:8000", True, None),
    ({"HTTP_PROXY": PROXY}, "http://127.0.0.1:8000", False, None),
    ({"HTTP_PROXY": PROXY}, "http://class.example:8000", False, (PROXY, "HTTP_PROXY")),  # the demo key only
    ({"HTTP_PROXY": PROXY}, "http://class.example:8000", True, REFUSED_PLAIN),
    ({"ALL_PROXY": PROXY}, "http://class.example:8000", True, REFUSED_PLAIN),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "class.example"}, "http://class.example:8000", True, None),
    ({"REQUEST_METHOD": "GET", "HTTP_PROXY": PROXY}, "http://class.example:8000", False, None),  # CGI, as urllib
    ({"HTTPS_PROXY": "ftp://proxy.example:21"}, API, True, UNUSABLE),
    ({"HTTPS_PROXY": "http://"}, API, True, UNUSABLE),
]


@pytest.mark.parametrize(("variables", "url", "secret", "expected"), RULES)
def test_the_proxy_rule(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], url: str, secret: bool, expected: object
) -> None:
    set_environment(monkeypatch, variables)
    if isinstance(expected, str):
        with pytest.raises(errors.TransportSecurityError, match=expected) as refused:
            proxy_for(url, secret=secret)
        sentence = str(refused.value)
        assert sentence.count(". ") == 0 and sentence.endswith(".") and PROXY_PASSWORD not in sentence
        return
    proxy = proxy_for(url, secret=secret)
    assert (proxy.url, proxy.source) == expected if expected else proxy is None


def test_socks_proxies_need_pysocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5h://proxy.example:1080")
    try:
        import socks  # noqa: F401 - only whether PySocks is installed matters
    except ImportError:
        with pytest.raises(errors.TransportSecurityError, match=UNUSABLE):
            proxy_for(API)
    else:
        assert proxy_for(API).describe().startswith("socks5h://proxy.example:1080 (from")


def test_a_proxy_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://learner:{PROXY_PASSWORD}@proxy.example:3128")
    proxy = proxy_for(API)
    assert proxy.describe() == f"{PROXY} (from HTTPS_PROXY)"
    assert PROXY_PASSWORD not in repr(proxy) + str(proxy) and PROXY_PASSWORD in proxy.secrets()
    with PerplexityClient(FAKE_KEY, API) as client:
        assert PROXY_PASSWORD not in repr(client.__dict__) and client.proxy == proxy
        assert PROXY_PASSWORD not in client.redact(f"proxy {proxy.url} failed")


# --- (b) what the client and the connector hand to requests (captured, nothing sent) --------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[requests.PreparedRequest, dict]]]:
    """Every request that reaches requests' adapter, with the adapter's options; each gets a 200 ``{}``."""
    captured: list[tuple[requests.PreparedRequest, dict]] = []

    def send(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **options: object):
        captured.append((request, options))
        body = io.BytesIO(b'{"data": []}')
        raw = urllib3.HTTPResponse(body, {"Content-Type": "application/json"}, 200, preload_content=False)
        return adapter.build_response(request, raw)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    yield captured


def proxy_used(options: dict, url: str) -> str | None:
    """The proxy requests' adapter picks for ``url`` from the options it was given, as it picks it."""
    return requests.utils.select_proxy(url, options.get("proxies"))


def test_the_client_hands_the_proxy_to_requests(monkeypatch: pytest.MonkeyPatch, sent: list) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://learner:{PROXY_PASSWORD}@proxy.example:3128")
    with PerplexityClient(FAKE_KEY, API) as client:
        client.list_models()
    ((request, options),) = sent
    assert request.url == f"{API}/v1/models"
    assert proxy_used(options, request.url) == f"http://learner:{PROXY_PASSWORD}@proxy.example:3128"


def test_without_proxy_variables_the_client_goes_straight_there(sent: list) -> None:
    with PerplexityClient(FAKE_KEY, API) as client:
        client.list_models()
    ((request, options),) = sent
    assert proxy_used(options, request.url) is None


def test_no_proxy_keeps_the_client_off_the_proxy(monkeypatch: pytest.MonkeyPatch, sent: list) -> None:
    set_environment(monkeypatch, {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.perplexity.ai"})
    with PerplexityClient(FAKE_KEY, API) as client:
        client.list_models()
    assert proxy_used(sent[0][1], sent[0][0].url) is None


def test_the_connector_test_hands_the_proxy_to_requests(monkeypatch: pytest.MonkeyPatch, sent: list) -> None:
    monkeypatch.setenv("https_proxy", PROXY)
    result = run_test(guide_connector(FAKE_KEY), agent_action())
    ((request, options),) = sent
    assert result.status == 200 and request.url == f"{API}/v1/agent"
    assert proxy_used(options, request.url) == PROXY


def test_a_sandbox_on_this_computer_is_reached_without_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy, Sandbox() as sandbox, EchoServer() as echo:
        set_environment(monkeypatch, {"HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url, "ALL_PROXY": proxy.url})
        with fast_client(sandbox.url) as client:
            assert client.proxy is None and client.list_models()
        assert run_test(Connector("Echo", echo.url), HttpAction("Ping", "/ping", "GET")).successful
    assert proxy.received == [] and len(echo.requests) == 1


# --- (c) end to end through a CONNECT proxy on 127.0.0.1 -----------------------------------


def test_the_key_goes_through_the_proxy_only_inside_the_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy, TcpEcho() as target:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with fast_client(f"https://127.0.0.1:{target.port}") as client, pytest.raises(errors.NetworkError) as caught:
            client.list_models()  # the target speaks no TLS: the handshake fails, after the tunnel opened
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{target.port}"]
    assert target.received, "the tunnel carried nothing to the target"
    seen_by_proxy = b"".join(proxy.received)
    assert FAKE_KEY.encode() not in seen_by_proxy and b"authorization:" not in seen_by_proxy.lower()
    assert FAKE_KEY.encode() not in b"".join(target.received)  # a TLS ClientHello, no request yet
    assert FAKE_KEY not in str(caught.value) + caught.value.detail


def test_proxy_credentials_go_to_the_proxy_and_nowhere_else(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy, TcpEcho() as target:
        monkeypatch.setenv("https_proxy", f"http://learner:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}")
        with fast_client(f"https://127.0.0.1:{target.port}") as client, pytest.raises(errors.NetworkError) as caught:
            client.list_models()
    credentials = base64.b64encode(f"learner:{PROXY_PASSWORD}".encode())
    assert b"Proxy-Authorization: Basic " + credentials in proxy.received[0]
    assert credentials not in b"".join(target.received) and PROXY_PASSWORD not in str(caught.value)


def test_a_query_key_of_the_connector_test_stays_inside_the_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy, TcpEcho() as target:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        connector = Connector("Vendor", f"https://127.0.0.1:{target.port}", ParamAuth(OTHER_KEY, "api_key"))
        result = run_test(connector, HttpAction("List", "/v1/items", "GET"))
    assert not result.successful and "Could not reach" in result.explanation
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{target.port}"]
    assert OTHER_KEY.encode() not in b"".join(proxy.received + target.received)


def test_a_proxy_that_refuses_is_named_in_the_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy:  # it tunnels only to this computer: api.perplexity.ai gets a 403
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with fast_client(API) as client, pytest.raises(errors.NetworkError) as caught:
            client.list_models()
    assert proxy.request_lines == ["CONNECT api.perplexity.ai:443"]
    assert str(caught.value) == (
        f"Could not reach {API} through the proxy {proxy.url} (from HTTPS_PROXY). "
        "Check the proxy's address, or unset HTTPS_PROXY to connect directly."
    )


# --- (d) .netrc never changes the Authorization header -------------------------------------


@pytest.fixture
def netrc_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose .netrc has a password for the API host, as a learner's machine might."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.perplexity.ai login someone password n3trc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_netrc_would_replace_the_header_if_requests_read_it(netrc_home: Path, sent: list) -> None:
    """The hazard itself: a plain requests session puts the .netrc password in place of the header."""
    requests.get(f"{API}/v1/models", headers={"Authorization": f"Bearer {FAKE_KEY}"}, timeout=1)
    assert sent[0][0].headers["Authorization"].startswith("Basic ")


def test_netrc_never_changes_the_clients_header(netrc_home: Path, sent: list) -> None:
    with PerplexityClient(FAKE_KEY, API) as client:
        client.list_models()
    assert sent[0][0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_netrc_never_changes_the_connector_tests_header(
    netrc_home: Path, monkeypatch: pytest.MonkeyPatch, sent: list
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)  # a proxy in use does not let .netrc in either
    run_test(guide_connector(FAKE_KEY), agent_action())
    assert sent[0][0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


# --- (e) the doctor says which proxy is used -----------------------------------------------


def test_the_doctor_says_when_there_is_no_proxy(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", PROXY)  # not for the sandbox on this computer
    report = format_report(run_checks(call=False))
    assert "ok       Proxy: none; requests go straight to the built-in sandbox." in report


def test_the_doctor_names_the_proxy_and_its_variable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy:
        set_environment(
            monkeypatch,
            {
                "PERPLEXITY_MODE": "live",
                "PERPLEXITY_API_KEY": FAKE_KEY,
                "HTTPS_PROXY": f"http://learner:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}",
            },
        )
        report = format_report(run_checks(call=False))
    assert f"Proxy: http://127.0.0.1:{proxy.port} (from HTTPS_PROXY)" in report
    assert PROXY_PASSWORD not in report
    # The host check took that same proxy (which tunnels only to this computer, so it says no).
    assert proxy.request_lines == ["CONNECT api.perplexity.ai:443"]


def test_the_doctor_reports_an_unusable_proxy(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_environment(monkeypatch, {"PERPLEXITY_MODE": "live", "PERPLEXITY_API_KEY": FAKE_KEY, "HTTPS_PROXY": "ftp://x"})
    check = check_proxy(resolve_settings())
    assert check.status == PROBLEM and UNUSABLE in check.detail and check.fix


def test_the_doctor_allows_the_demo_key_through_a_proxy_to_a_class_sandbox(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_environment(monkeypatch, {"PERPLEXITY_BASE_URL": "http://class.example:8000", "HTTP_PROXY": PROXY})
    settings = resolve_settings()
    assert settings.api_key.reveal() == SANDBOX_DEMO_KEY
    check = check_proxy(settings)
    assert check.detail.startswith(f"{PROXY} (from HTTP_PROXY)") and "demo key only" in check.detail
    assert isinstance(proxy_for(settings.base_url, secret=False), Proxy)


# --- (e) notebook setup's check goes through the same rule, and carries no key ----------------------


@pytest.fixture
def live_setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Live mode with a key, no sandbox registered; ssl is left as it was (setup puts truststore in place)."""
    was_active = ssl.SSLContext is truststore.SSLContext
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)
    set_environment(monkeypatch, {"PERPLEXITY_MODE": "live", "PERPLEXITY_API_KEY": FAKE_KEY})
    yield
    if not was_active:
        truststore.extract_from_ssl()


def test_setup_checks_the_api_through_the_proxy_and_sends_no_key(
    live_setup: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A corporate network: a CONNECT proxy and its own root certificate. Setup's check tunnels through it."""
    authority = TestAuthority(tmp_path)
    with HttpsServer(authority) as api, ConnectProxy() as proxy:
        variables = {"PERPLEXITY_BASE_URL": api.url, "HTTPS_PROXY": proxy.url}
        set_environment(monkeypatch, {**variables, "REQUESTS_CA_BUNDLE": str(authority.ca_file)})
        settings = setup_notebook()
    assert capsys.readouterr().out.strip() == settings.describe()  # it answered: nothing more to say
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{api.server_address[1]}"]
    assert api.requests == ["GET /"] and api.authorizations == []
    assert FAKE_KEY.encode() not in b"".join(proxy.received)


def test_setup_names_the_proxy_that_refuses(
    live_setup: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("https_proxy", unused_url())
    setup_notebook()
    warning = capsys.readouterr().out.strip().splitlines()[-1]
    assert warning.startswith("\u26a0\ufe0f The proxy in https_proxy did not pass the request on to api.perplexity.ai")
    assert "NO_PROXY" in warning and "PERPLEXITY_MODE=sandbox" in warning
