"""The light EC2 client of the bake cache check: paging, throttling, TLS with $AWS_CA_BUNDLE.

A small real EC2 Query endpoint (http.server, HTTP and HTTPS with a certificate made here)
answers DescribeImages in pages, so the client's own HTTP, TLS and XML handling are exercised.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.core import aws
from shipyard.core.errors import OperationError, SpecError
from shipyard.strategies.ami import bake

_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def _item(ami: str, date: str) -> str:
    return (
        f"<item><imageId>{ami}</imageId><name>shipyard-hello-{ami}</name><creationDate>{date}</creationDate>"
        "<imageState>available</imageState><tagSet>"
        "<item><key>shipyard:bake-hash</key><value>h1</value></item>"
        "<item><key>shipyard:service</key><value>hello</value></item></tagSet></item>"
    )


class _Ec2(http.server.BaseHTTPRequestHandler):
    """Two pages of images; the first request of a server answers 503 if ``throttle_once``."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        server: Any = self.server
        server.requests.append(params)
        if server.throttle_once and len(server.requests) == 1:
            body = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>"
            self.send_response(503)
        elif params.get("NextToken") == "page2":
            body = f'<DescribeImagesResponse xmlns="{_NS}"><imagesSet>{_item("ami-2", "2026-02-01")}</imagesSet>'
            body += "</DescribeImagesResponse>"
            body = body.encode()  # type: ignore[assignment]
            self.send_response(200)
        else:
            body = (  # type: ignore[assignment]
                f'<DescribeImagesResponse xmlns="{_NS}"><imagesSet>{_item("ami-1", "2026-01-01")}</imagesSet>'
                "<nextToken>page2</nextToken></DescribeImagesResponse>"
            ).encode()
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None, *, throttle_once: bool = False) -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ec2)
    server.requests = []
    server.throttle_once = throttle_once
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ec2_http() -> Iterator[Any]:
    yield from _serve()


def _settings(url: str, **env: str) -> aws.AwsSettings:
    return aws.resolve(url, region="us-east-1", environ={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", **env})


def test_the_light_client_reads_every_page(ec2_http: Any) -> None:
    url = f"http://127.0.0.1:{ec2_http.server_address[1]}"
    quick = bake.QuickEc2(_settings(url))
    first = quick.describe_images(Owners=["self"])
    assert [i["ImageId"] for i in first["Images"]] == ["ami-1"] and first["NextToken"] == "page2"
    found = bake.find_cached(quick, "hello", "h1")  # the newest is on the second page
    assert found is not None and found["ImageId"] == "ami-2"
    assert [r.get("NextToken") for r in ec2_http.requests] == [None, None, "page2"]


def test_throttling_is_retried_with_backoff() -> None:
    for server in _serve(throttle_once=True):
        url = f"http://127.0.0.1:{server.server_address[1]}"
        waits: list[float] = []
        quick = bake.QuickEc2(_settings(url), sleep=waits.append)
        assert [i["ImageId"] for i in quick.describe_images(ImageIds=["ami-1"])["Images"]] == ["ami-1"]
        assert len(server.requests) == 2 and len(waits) == 1 and 0.2 <= waits[0] <= 0.4


def test_a_missing_ca_bundle_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    settings = _settings("https://127.0.0.1:1", AWS_CA_BUNDLE=missing)
    with pytest.raises(SpecError) as err:
        bake.QuickEc2(settings)
    assert err.value.field == "AWS_CA_BUNDLE" and err.value.value == missing
    assert err.value.exit_code == 2 and "no such file: point it at a PEM file" in str(err.value)
    with pytest.raises(SpecError, match="AWS_CA_BUNDLE"):
        settings.client("ec2")  # boto3 clients check it too, before any call


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shipyard test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_tls_is_verified_with_aws_ca_bundle(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for server in _serve(context):
        url = f"https://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(OperationError, match="CERTIFICATE_VERIFY_FAILED"):  # system CAs only
            bake.QuickEc2(_settings(url)).describe_images(ImageIds=["ami-1"])
        quick = bake.QuickEc2(_settings(url, AWS_CA_BUNDLE=str(cert)))
        assert quick.describe_images(ImageIds=["ami-1"])["Images"][0]["ImageId"] == "ami-1"
        assert _settings(url, AWS_CA_BUNDLE=str(cert)).verify() == str(cert)


def test_boto3_clients_retry_and_use_the_ca_bundle(tmp_path: Path) -> None:
    cert, _ = _certificate(tmp_path)
    ec2 = _settings("http://127.0.0.1:1", AWS_CA_BUNDLE=str(cert)).client("ec2")
    assert ec2.meta.config.retries["mode"] == "standard"
    assert ec2._endpoint.http_session._verify == str(cert)
    assert _settings("http://127.0.0.1:1").client("ec2")._endpoint.http_session._verify is not False
