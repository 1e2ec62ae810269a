"""A self-signed certificate for 127.0.0.1, made at start, so the Coinbase face can speak HTTPS.

coinbase-advanced-py always builds ``https://{base_url}`` URLs, so the simulator must serve TLS.
The certificate names the IP in its SubjectAltName (clients match IP SANs, never the CN); the
adapter trusts exactly this file through ``COINBASE_CA_BUNDLE``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALID_DAYS = 30


@dataclass(frozen=True)
class CertificatePair:
    cert_path: Path  # PEM certificate: the CA bundle a client trusts
    key_path: Path  # PEM private key of the server


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> CertificatePair:
    """Write a fresh certificate + key for `host` (an IP address) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return write_cert(directory, cert.public_bytes(serialization.Encoding.PEM), key_pem)


def write_cert(directory: Path, cert_pem: bytes, key_pem: bytes) -> CertificatePair:
    """Write a certificate and its key (0600) into `directory`: a new one, or one a state file kept."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = CertificatePair(directory / "sim-cert.pem", directory / "sim-key.pem")
    pair.cert_path.write_bytes(cert_pem)
    pair.key_path.touch(mode=0o600)
    pair.key_path.chmod(0o600)
    pair.key_path.write_bytes(key_pem)
    return pair


def server_context(pair: CertificatePair) -> ssl.SSLContext:
    """A server-side TLS context for wrapping the face's listening socket."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pair.cert_path), str(pair.key_path))
    return context
