"""Corporate networks: a TLS-inspecting proxy's root certificate, in a CA variable or the system's store.

The API stands in as a loopback HTTPS server whose certificate a test authority signed: certifi's
bundle rejects it, as it rejects every site seen through such a proxy. With the authority's file in
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``, the package's client trusts it.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import truststore

from helpers import errors, progress, setup_notebook, trust
from helpers import settings as settings_module
from helpers.client import reachability_problem
from helpers.connector import Connector, HttpAction, run_test
from helpers.settings import SANDBOX_DEMO_KEY
from tests.support import FAKE_KEY, fast_client
from tests.tls_server import HttpsServer, TestAuthority

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_ca_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no CA variable (a developer's own must not decide a result)."""
    for name in (*trust.CA_VARIABLES, "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def without_the_system_store() -> Iterator[None]:
    """Each test starts with ssl as Python ships it (an earlier test's notebook setup may have put
    truststore in place), and leaves it as it found it."""
    was_active = ssl.SSLContext is truststore.SSLContext
    truststore.extract_from_ssl()
    yield
    if was_active:
        truststore.inject_into_ssl()
    else:
        truststore.extract_from_ssl()


@pytest.fixture
def authority(tmp_path: Path) -> TestAuthority:
    return TestAuthority(tmp_path)


@pytest.fixture
def api(authority: TestAuthority) -> Iterator[HttpsServer]:
    """The API seen through a TLS-inspecting proxy: a certificate only the test authority vouches for."""
    with HttpsServer(authority) as server:
        yield server


def where(server: HttpsServer) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def one_sentence(text: str) -> bool:
    return "\n" not in text and text.endswith(".") and not re.search(r"[.!?] [A-Z]", text)


# --- without the corporate root: one sentence, naming the host and what to set ----------------------


def test_without_the_ca_the_client_names_the_host_and_what_to_set(api: HttpsServer) -> None:
    with fast_client(api.url, SANDBOX_DEMO_KEY) as client, pytest.raises(errors.NetworkError) as caught:
        client.list_models()
    sentence = str(caught.value)
    assert where(api) in sentence and "could not be verified" in sentence
    assert "REQUESTS_CA_BUNDLE" in sentence and "SSL_CERT_FILE" in sentence
    assert one_sentence(sentence), sentence
    assert api.requests == []  # nothing was sent over the connection it did not trust


def test_a_learners_own_request_gets_the_same_sentence(api: HttpsServer) -> None:
    with pytest.raises(requests.exceptions.SSLError) as caught:
        requests.get(api.url + "/v1/models", timeout=5)
    sentence = errors.describe_network_failure(caught.value)
    assert sentence == trust.verification_advice(where(api))
    assert one_sentence(sentence), sentence


def test_a_ca_file_that_does_not_vouch_for_the_server_is_named(
    api: HttpsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "other").mkdir()
    other = TestAuthority(tmp_path / "other", name="Another Root CA")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_file))
    with fast_client(api.url, SANDBOX_DEMO_KEY) as client, pytest.raises(errors.NetworkError) as caught:
        client.list_models()
    assert f"REQUESTS_CA_BUNDLE={other.ca_file}" in str(caught.value) and where(api) in str(caught.value)


def test_a_ca_variable_naming_a_missing_file_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "corporate-root.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(errors.NetworkError) as caught:
        fast_client("https://127.0.0.1:9", SANDBOX_DEMO_KEY)
    assert str(caught.value).startswith(f"SSL_CERT_FILE names {missing}, which does not exist")
    assert one_sentence(str(caught.value))
    assert "no such file" in trust.describe_ca_source()


# --- with the corporate root in a CA variable: the package's client trusts it ------------------------


@pytest.mark.parametrize("variable", trust.CA_VARIABLES)
def test_with_the_ca_in_a_variable_the_client_succeeds(
    variable: str, api: HttpsServer, authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, str(authority.ca_file))
    with fast_client(api.url, SANDBOX_DEMO_KEY) as client:
        assert client.list_models() == ["perplexity/sonar"]
    assert api.requests == ["GET /v1/models"]
    assert trust.describe_ca_source() == f"HTTPS certificates are checked against {variable}={authority.ca_file}."


def test_requests_ca_bundle_comes_first(
    authority: TestAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "elsewhere.pem"))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "curl.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
    assert trust.ca_bundle_from_environment() == (str(authority.ca_file), "REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # empty counts as unset, as requests reads it
    assert trust.ca_bundle_from_environment() == (str(tmp_path / "curl.pem"), "CURL_CA_BUNDLE")


def test_honouring_the_ca_variable_still_never_reads_netrc(
    api: HttpsServer, authority: TestAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests reads the CA variables only with ``trust_env`` on, which would also read ``.netrc``."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
    with fast_client(api.url, SANDBOX_DEMO_KEY) as client:
        client.list_models()
    assert api.authorizations == [f"Bearer {SANDBOX_DEMO_KEY}"]


# --- otherwise: the operating system's store, through truststore, from notebook setup on ------------


def test_importing_helpers_leaves_ssl_alone() -> None:
    code = "import ssl, truststore, helpers, helpers.notebook; print(ssl.SSLContext is truststore.SSLContext)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_notebook_setup_puts_the_system_store_in_place_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)
    assert ssl.SSLContext is not truststore.SSLContext
    assert "certifi's bundle" in trust.describe_ca_source()
    setup_notebook(quiet=True)
    assert ssl.SSLContext is truststore.SSLContext
    assert trust.use_system_store() is True and ssl.SSLContext is truststore.SSLContext  # a second time: no change
    assert trust.describe_ca_source() == (
        "HTTPS certificates are checked against the operating system's certificate store (through truststore)."
    )


@pytest.mark.skipif(
    sys.platform != "linux", reason="on Linux the system's store is OpenSSL's, which SSL_CERT_FILE names"
)
def test_after_setup_the_learners_own_requests_trust_the_system_store(
    api: HttpsServer, authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The taught ``requests.post`` uses certifi's bundle; after setup it trusts the system's store too.

    On Linux the system's store is OpenSSL's default file, which ``SSL_CERT_FILE`` moves: requests
    itself never reads that variable, so only the system store (truststore) can make this request pass.
    """
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(api.url + "/v1/models", timeout=5)
    assert trust.use_system_store() is True
    assert requests.get(api.url + "/v1/models", timeout=5).json()["data"][0]["id"] == "perplexity/sonar"


def test_the_advice_names_the_variables_or_the_one_in_use(
    authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    advice = trust.verification_advice("api.perplexity.ai")
    assert "api.perplexity.ai" in advice and "REQUESTS_CA_BUNDLE" in advice and one_sentence(advice)
    monkeypatch.setenv("CURL_CA_BUNDLE", str(authority.ca_file))
    advice = trust.verification_advice("api.perplexity.ai")
    assert f"CURL_CA_BUNDLE={authority.ca_file}" in advice and one_sentence(advice)


# --- notebook setup checks the connection before the first request fails ------------------------------


def live_through(api: HttpsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", api.url)


def test_setup_says_at_once_that_the_certificate_cannot_be_verified(
    api: HttpsServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    live_through(api, monkeypatch)
    setup_notebook()
    shown = capsys.readouterr().out
    assert shown.startswith("Mode: live.")
    assert f"The certificate of {where(api)} could not be verified" in shown and "REQUESTS_CA_BUNDLE" in shown
    assert api.authorizations == [] and FAKE_KEY not in shown


def test_setup_says_nothing_more_once_the_ca_is_set(
    api: HttpsServer, authority: TestAuthority, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    live_through(api, monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
    settings = setup_notebook()
    assert capsys.readouterr().out.strip() == settings.describe()
    assert reachability_problem(api.url) == ""
    assert api.requests == ["GET /", "GET /"] and api.authorizations == []  # no key in a check


def test_a_connector_test_behind_an_unknown_root_says_what_to_set(authority: TestAuthority) -> None:
    """Test against a host whose certificate this machine cannot verify: the sentence names the CA variables."""
    with HttpsServer(authority) as server:
        result = run_test(Connector("Corporate", server.url), HttpAction("Models", "/v1/models", "GET"))
    assert result.status is None and not result.successful
    assert "certificate" in result.explanation and "REQUESTS_CA_BUNDLE" in result.explanation, result.explanation


def test_progress_reports_trust_the_ca_variables_as_the_client_does(
    authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class sandbox over https behind an inspecting proxy: reports trust the root the learner's requests do."""
    with HttpsServer(authority) as server:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", server.url)
        assert progress.class_sandbox_url(settings_module.resolve_settings()) is None  # certifi knows no test root
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
        assert progress.class_sandbox_url(settings_module.resolve_settings()) == server.url
        assert server.requests[-1] == "GET /class/hello"
