"""A CA (throwaway or shared), server and client certificates (EC P-256: fast to generate)."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    """Paths of the PEM files written by `make_certs`."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


# the key types a CA loaded from disk may have (minikube's own ca.key is RSA)
CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
    )


def _key_pem(key: CaKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    if private:
        os.chmod(tmp, 0o600)
    tmp.replace(path)


def _new_ca() -> tuple[x509.Certificate, CaKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("minikubeCA")
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive flock on ``directory`` itself: no lock file left behind."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_or_create_ca(ca_cert: Path, ca_key: Path) -> tuple[x509.Certificate, CaKey]:
    """The CA in ``ca_cert``/``ca_key`` when both exist, else a new one written there.

    Serialised with a lock on the key's directory, so servers started together share one CA.
    """
    ca_key.parent.mkdir(parents=True, exist_ok=True)
    ca_cert.parent.mkdir(parents=True, exist_ok=True)
    with _locked(ca_key.parent):
        if ca_cert.exists() and ca_key.exists():
            cert = x509.load_pem_x509_certificate(ca_cert.read_bytes())
            key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise ValueError(f"{ca_key}: unsupported CA key type {type(key).__name__}")
            return cert, key
        cert, key = _new_ca()
        _write(ca_key, _key_pem(key), private=True)
        _write(ca_cert, cert.public_bytes(serialization.Encoding.PEM))
        return cert, key


def _files(cert_dir: Path) -> CertFiles:
    return CertFiles(
        cert_dir / "ca.crt",
        cert_dir / "apiserver.crt",
        cert_dir / "apiserver.key",
        cert_dir / "client.crt",
        cert_dir / "client.key",
    )


def reusable(cert_dir: Path, hosts: list[str], shared_ca: Path | None) -> CertFiles | None:
    """The certificates a previous start left in ``cert_dir``, when they still fit.

    A real API server keeps its certificates across restarts (minikube regenerates them only
    when the IPs change), so clients that trusted it before (a running `kubectl proxy`) still
    do. They fit when all files exist, both certificates are issued by the CA in use (the
    shared one, else ``cert_dir/ca.crt``), valid for another hour, and the server's SANs cover
    ``hosts``.
    """
    files = _files(cert_dir)
    try:
        ca = x509.load_pem_x509_certificate((shared_ca or files.ca).read_bytes())
        copied = shared_ca is not None and files.ca.resolve() != shared_ca.resolve()
        if copied and files.ca.read_bytes() != ca.public_bytes(serialization.Encoding.PEM):
            return None
        server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
        if not (files.server_key.exists() and files.client_key.exists()):
            return None
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        for cert in (server, client):
            cert.verify_directly_issued_by(ca)
            if cert.not_valid_after_utc < soon:
                return None
        sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        names |= set(sans.get_values_for_type(x509.DNSName))
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return None
    wanted = {str(ipaddress.ip_address(h)) if _is_ip(h) else h for h in hosts}
    return files if wanted <= names else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def make_certs(
    cert_dir: Path,
    hosts: list[str],
    ca_cert: Path | None = None,
    ca_key: Path | None = None,
) -> CertFiles:
    """Sign a server cert (SANs `hosts`) and a system:masters client cert with a CA.

    The CA is ``ca_cert``/``ca_key`` when both are given (loaded if both files exist, else
    generated and written there), otherwise a throwaway one; its certificate is also written to
    ``cert_dir/ca.crt``.
    """
    cert_dir.mkdir(parents=True, exist_ok=True)
    shared = ca_cert if ca_cert is not None and ca_key is not None else None
    kept = reusable(cert_dir, hosts, shared)
    if kept is not None:
        return kept
    if ca_cert is not None and ca_key is not None:
        ca, ca_priv = load_or_create_ca(ca_cert, ca_key)
    else:
        ca, ca_priv = _new_ca()
    ca_name = ca.subject
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = (
        _builder(_name("minikube", "system:masters"), ca_name, srv_key)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_priv, hashes.SHA256())
    )
    cli_key = ec.generate_private_key(ec.SECP256R1())
    cli = (
        _builder(_name("minikube-user", "system:masters"), ca_name, cli_key)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_priv, hashes.SHA256())
    )
    files = _files(cert_dir)
    pem = serialization.Encoding.PEM
    if shared is None or files.ca.resolve() != shared.resolve():
        _write(files.ca, ca.public_bytes(pem))
    _write(files.server_cert, srv.public_bytes(pem))
    _write(files.server_key, _key_pem(srv_key), private=True)
    _write(files.client_cert, cli.public_bytes(pem))
    _write(files.client_key, _key_pem(cli_key), private=True)
    return files
