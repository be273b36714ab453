"""A Lambda deploy whose AWS endpoint goes away half-way leaves the alias on the old version.

The endpoint is a small forwarding proxy in front of the lab's moto server. It forwards every
request until it has passed on the code upload (``PUT .../functions/NAME/code``), then stops:
its listening socket is closed, so the deploy's next call (publish version) meets a real
"connection refused", as with an endpoint that went down. Nothing in shipyard is patched.
"""

from __future__ import annotations

import http.client
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import ROOT

from shipyard import api
from shipyard.strategies.lambda_.deploy import LambdaResult

pytestmark = pytest.mark.lab

NAME = "relfault"


class DiesAfterUpload(ThreadingHTTPServer):
    """Forwards to ``upstream`` until a code upload went through, then closes its socket."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.uploaded = threading.Event()
        self.after_upload: list[str] = []
        super().__init__(("127.0.0.1", 0), Handler)

    def stop(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: DiesAfterUpload

    def _forward(self) -> None:
        if self.server.uploaded.is_set():  # a connection accepted just before the socket closed
            self.server.after_upload.append(f"{self.command} {self.path}")
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
        if self.command == "PUT" and self.path.endswith(f"/functions/{NAME}/code") and resp.status == 200:
            self.server.uploaded.set()
            threading.Thread(target=self.server.stop, daemon=True).start()

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass


def spec(tmp_path: Path, greeting: str) -> Path:
    shutil.copytree(ROOT / "services" / "imageupload", tmp_path / "code", dirs_exist_ok=True)
    (tmp_path / "code" / "greeting.txt").write_text(greeting)  # new code, same handler
    path = tmp_path / f"{NAME}.yml"
    doc = {
        "name": NAME,
        "version": "1.0.0",
        "strategy": "lambda",
        "env": {"IMAGES_TABLE": "t", "IMAGES_STREAM": "s"},
        "lambda": {"source": "code", "handler": "app.handler", "timeout": 20},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def deploy(path: Path, endpoint: str) -> LambdaResult:
    result = api.deploy(path, endpoint_url=endpoint)
    assert isinstance(result, LambdaResult)
    return result


def test_endpoint_lost_after_the_upload_leaves_the_alias_on_the_old_version(
    aws: Any, aws_endpoint: str, tmp_path: Path
) -> None:
    client = aws("lambda")
    first = deploy(spec(tmp_path, "one"), aws_endpoint)
    assert first.ok and first.alias_version == "1", first.message
    proxy = DiesAfterUpload(aws_endpoint)
    serving = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    try:
        broken = deploy(spec(tmp_path, "two"), proxy.url)
    finally:
        proxy.stop()
    assert proxy.uploaded.is_set(), "the code upload never went through the proxy"
    assert not broken.ok
    assert broken.message and "publish_version failed: Could not connect" in broken.message, broken.message
    # the new code is $LATEST, but no version was published and the alias did not move
    assert client.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "1"
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=NAME)["Versions"]]
    assert versions == ["$LATEST", "1"]
    # a rerun against the endpoint publishes the uploaded code and moves the alias, once
    rerun = deploy(spec(tmp_path, "two"), aws_endpoint)
    assert rerun.ok and rerun.changed, rerun.message
    assert not rerun.code_uploaded and rerun.published == "2" and rerun.alias_version == "2"
    assert client.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "2"
    again = deploy(spec(tmp_path, "two"), aws_endpoint)
    assert again.ok and not again.changed and again.published is None, again.actions
