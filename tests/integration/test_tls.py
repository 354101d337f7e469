"""`parley serve --tls-cert --tls-key`: https and wss with a self-signed certificate."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import Speaker, http_get, speech_pcm


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parley-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(tmp)
    with parley_serve("--asr-model", "tiny.en", "--no-mt", "--tls-cert", str(cert),
                      "--tls-key", str(key), tmp=tmp) as srv:
        yield srv, cert


def test_wss_and_https_with_a_self_signed_certificate(tls_server: tuple[ServerProcess, Path]) -> None:
    server, cert = tls_server
    assert f"serving on https://127.0.0.1:{server.port}" in server.log_text()
    trusted = ssl.create_default_context(cafile=str(cert))
    status, body = http_get(f"https://127.0.0.1:{server.port}/healthz", trusted)
    assert (status, body) == (200, "ok\n")
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        http_get(f"https://127.0.0.1:{server.port}/healthz", ssl.create_default_context())

    async def run() -> Speaker:
        sp = Speaker(f"wss://127.0.0.1:{server.port}", ssl_context=trusted)
        ready = await sp.start()
        assert ready["type"] == "ready", ready
        await sp.send_pcm(speech_pcm(1))
        await sp.stop()
        return sp

    sp = asyncio.run(run())
    assert sp.close_code == 1000
    assert "Dashwood" in " ".join(f["text"] for f in sp.finals())
    assert sp.of("end")[0]["segments"] == len(sp.finals()) >= 1
