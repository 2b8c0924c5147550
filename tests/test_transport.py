"""The keep-alive connection pool against a real local HTTP/1.1 server: connections are reused, and one
the server closed while idle is replaced without failing the request."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubectl_gitops.transport import Transport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless we close

    def do_GET(self) -> None:
        body = f"{self.path} on connection {self.client_address[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # /drop: answer, then close the connection without saying so (as a server's idle timeout does)
        self.close_connection = self.path == "/drop"

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _conn(body: bytes) -> str:
    return body.decode().rsplit(" ", 1)[1]


def test_connections_are_kept_alive(server: str) -> None:
    t = Transport(server, ssl.create_default_context())
    answers = [t.request("GET", f"/{i}", None, {}) for i in range(5)]
    assert [status for status, _ in answers] == [200] * 5
    assert len({_conn(body) for _, body in answers}) == 1


def test_a_connection_the_server_closed_is_replaced(server: str) -> None:
    t = Transport(server, ssl.create_default_context())
    status, first = t.request("GET", "/drop", None, {})
    assert status == 200
    status, second = t.request("GET", "/after", None, {})
    assert status == 200 and second.startswith(b"/after") and _conn(second) != _conn(first)
