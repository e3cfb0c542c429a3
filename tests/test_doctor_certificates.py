"""The doctor names the certificates HTTPS is checked against, and says what to set when verification fails.

A loopback https server whose certificate comes from a test CA stands for the API behind a
TLS-inspecting proxy: its root is in no store the doctor trusts until a variable names it.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.doctor import PROBLEM, SKIPPED, check_certificates, format_report
from helpers.recording import CLEARED_ENV, MASKS_FILE, read_masks
from tests.support import FAKE_KEY, CannedServer, fix_under, report_line

x509 = pytest.importorskip("cryptography.x509", reason="the test CA is made with cryptography (JupyterHub needs it)")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402 - after the skip above
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The variables that name a CA file, as requests, curl and OpenSSL read them (the order the doctor honours them in).
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
MODELS = json.dumps({"object": "list", "data": [{"id": "sonar", "object": "model"}]}).encode()


def make_ca(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    """A root CA: its key, its certificate, and the PEM file a variable would name."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def server_certificate(
    folder: Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by the CA: the certificate and key files for the server."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class HttpsModels(CannedServer):
    """A loopback https server answering every request with a model list, under a certificate from the test CA."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(MODELS, "application/json")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)  # a refused handshake drops that client

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert, ca_file = make_ca(folder, "test-corporate-root")
    _, _, other_file = make_ca(folder, "another-root")
    cert, key = server_certificate(folder, ca_key, ca_cert)
    return {"ca": ca_file, "other": other_file, "cert": cert, "key": key}


@pytest.fixture(scope="module")
def api(pki: dict[str, Path]) -> Iterator[HttpsModels]:
    with HttpsModels(pki["cert"], pki["key"]) as server:
        yield server


def doctor(tmp_path: Path, api: HttpsModels, **variables: str) -> subprocess.CompletedProcess:
    """``python -m helpers doctor --skip-call`` in live mode against the https server; CA variables as given."""
    dropped = (*CLEARED_ENV, *CA_VARIABLES, "SSL_CERT_DIR")  # this machine's own settings never decide a result
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PERPLEXITY_MODE="live",
        PERPLEXITY_API_KEY=FAKE_KEY,
        PERPLEXITY_BASE_URL=api.url,
        PERPLEXITY_ENV_FILE=str(tmp_path / ".env"),
        **variables,
    )
    return subprocess.run(
        [sys.executable, "-m", "helpers", "doctor", "--skip-call"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_fix_per_problem(report: str) -> None:
    problems = [text for text in report.splitlines() if text.startswith(PROBLEM)]
    fixes = [text for text in report.splitlines() if text.lstrip().startswith("Fix: ")]
    assert len(fixes) == len(problems) >= 1, report


def test_an_unknown_root_fails_verification_and_says_what_to_set(tmp_path: Path, api: HttpsModels) -> None:
    result = doctor(tmp_path, api)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert report_line(result.stdout, "Certificates").startswith("ok       Certificates: HTTPS certificates are")
    assert report_line(result.stdout, "API host") == (
        f"{PROBLEM}  API host: {api.url} answered, but its certificate could not be verified."
    )
    fix = fix_under(result.stdout, "API host")
    assert fix.startswith("Fix: The certificate of 127.0.0.1 could not be verified") and "REQUESTS_CA_BUNDLE" in fix
    assert_one_fix_per_problem(result.stdout)
    assert FAKE_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize("variable", CA_VARIABLES)
def test_the_root_named_by_a_ca_variable_is_trusted_and_named(
    tmp_path: Path, api: HttpsModels, pki: dict[str, Path], variable: str
) -> None:
    result = doctor(tmp_path, api, **{variable: str(pki["ca"])})
    assert result.returncode == 0, result.stdout + result.stderr
    assert report_line(result.stdout, "Certificates") == (
        f"ok       Certificates: HTTPS certificates are checked against {variable}={pki['ca']}."
    )
    assert report_line(result.stdout, "API host") == f"ok       API host: {api.url} answers."


def test_a_ca_file_without_the_networks_root_says_to_check_that_file(
    tmp_path: Path, api: HttpsModels, pki: dict[str, Path]
) -> None:
    result = doctor(tmp_path, api, REQUESTS_CA_BUNDLE=str(pki["other"]))
    assert result.returncode == 1, result.stdout + result.stderr
    assert fix_under(result.stdout, "API host").startswith(
        f"Fix: The certificate of 127.0.0.1 could not be verified with REQUESTS_CA_BUNDLE={pki['other']}"
    )
    assert_one_fix_per_problem(result.stdout)


def test_a_ca_file_that_does_not_exist_is_one_problem_and_nothing_is_sent(tmp_path: Path, api: HttpsModels) -> None:
    missing = tmp_path / "no-such-root.pem"
    result = doctor(tmp_path, api, SSL_CERT_FILE=str(missing))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    certificates = report_line(result.stdout, "Certificates")
    assert certificates.startswith(f"{PROBLEM}  Certificates:") and f"SSL_CERT_FILE={missing}" in certificates
    assert fix_under(result.stdout, "Certificates").startswith("Fix: Set SSL_CERT_FILE to the file that holds")
    assert report_line(result.stdout, "API host").startswith(f"{SKIPPED:<8} API host: not checked until")
    assert_one_fix_per_problem(result.stdout)


def test_the_recorded_certificates_line_is_the_same_on_every_machine(
    pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notebook 01 records the report: the CA source differs per machine, so the nbval masks hide it (when ok)."""
    masks = read_masks((ROOT / MASKS_FILE).read_text(encoding="utf-8"))

    def recorded() -> str:
        text = format_report([check_certificates()])
        for pattern, replacement in masks:
            text = re.sub(pattern, replacement, text)
        return text

    for variable in CA_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    default = recorded()
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))
    assert recorded() == default and "ok       Certificates: SOURCE" in default
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]) + ".missing")  # a problem stays visible
    assert f"SSL_CERT_FILE={pki['ca']}.missing" in recorded()
