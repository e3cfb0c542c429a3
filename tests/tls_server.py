"""An HTTPS server on loopback whose certificate comes from a certificate authority made up for the test.

It stands in for the Perplexity API seen through a TLS-inspecting corporate proxy: a certificate that
no public authority signed, so certifi's bundle rejects it, and only the proxy's own root (here
:class:`TestAuthority`'s ``ca.pem``) makes it trusted.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import LoopbackServer

MODELS = {"object": "list", "data": [{"id": "perplexity/sonar", "object": "model"}]}


class TestAuthority:
    """A root certificate and its key, written to ``folder/ca.pem``; :meth:`issue` signs server certificates."""

    __test__ = False  # a helper, not a test class

    def __init__(self, folder: Path, name: str = "Test Corporate Root CA") -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, *hosts: str) -> tuple[Path, Path]:
        """A server certificate for ``hosts`` (names or IP addresses): its PEM file and its key's PEM file."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = [_alternative_name(host) for host in hosts]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        certificate = (
            _builder(subject, self.certificate.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_file, key_file = self.folder / f"{hosts[0]}.pem", self.folder / f"{hosts[0]}.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _alternative_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class HttpsServer(LoopbackServer):
    """A loopback HTTPS server that answers every request with the model list.

    It records each request's method and path (``requests``) and its Authorization header, if any
    (``authorizations``).

    A client that rejects the certificate ends the handshake; the server then serves the next one.
    """

    def __init__(self, authority: TestAuthority, *hosts: str) -> None:
        super().__init__(_ModelsHandler)
        cert_file, key_file = authority.issue(*(hosts or ("127.0.0.1", "localhost")))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        # The handshake happens in each connection's own thread (see _ModelsHandler.setup): a client that
        # stops half-way through it then holds up no other client.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.requests: list[str] = []
        self.authorizations: list[str] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


class _ModelsHandler(BaseHTTPRequestHandler):
    server: HttpsServer
    timeout = 5

    def setup(self) -> None:
        super().setup()
        try:
            self.request.do_handshake()
            self.shook_hands = True
        except OSError:  # the client did not trust the certificate (ssl.SSLError is an OSError)
            self.shook_hands = False

    def handle(self) -> None:
        if self.shook_hands:
            super().handle()

    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        if "Authorization" in self.headers:
            self.server.authorizations.append(self.headers["Authorization"])
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(MODELS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass
