"""The keep-alive connection pool against real local HTTP/1.1 servers: connections are reused, one the
server closed while idle is replaced, a request whose answer was lost is sent again only when the caller
says it is safe (never a POST), and a server that answers before it read the whole request (413) is heard."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubectl_gitops.transport import NotSent, Transport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless we close
    received: list[str]

    def do_GET(self) -> None:
        self.received.append(f"GET {self.path}")
        if self.path == "/vanish":  # read the request, then close without an answer (a crash, a reset)
            self.close_connection = True
            return
        body = f"{self.path} on connection {self.client_address[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # /drop: answer, then close the connection without saying so (as a server's idle timeout does)
        self.close_connection = self.path == "/drop"

    def do_POST(self) -> None:
        self.received.append(f"POST {self.path}")
        if self.path == "/huge":  # answer without reading the body, as the API server does past its limit
            self.send_response(413)
            body = b'{"message": "the request is too large"}'
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.close_connection = True
            return
        self.rfile.read(int(self.headers["Content-Length"]))
        self.close_connection = True  # a lost answer: the request was read (and acted on) but not answered

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    received: list[str] = []
    handler = type("Handler", (_Handler,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    httpd.shutdown()
    httpd.server_close()


def _conn(body: bytes) -> str:
    return body.decode().rsplit(" ", 1)[1]


def _get(t: Transport, path: str, resend: bool = True) -> tuple[int, bytes]:
    r = t.request("GET", path, None, [], timeout=5, resend=resend)
    return r.status, r.body


def test_connections_are_kept_alive(server: tuple[str, list[str]]) -> None:
    t = Transport(server[0], ssl.create_default_context())
    answers = [_get(t, f"/{i}") for i in range(5)]
    assert [status for status, _ in answers] == [200] * 5
    assert len({_conn(body) for _, body in answers}) == 1


def test_a_connection_the_server_closed_is_replaced(server: tuple[str, list[str]]) -> None:
    t = Transport(server[0], ssl.create_default_context())
    status, first = _get(t, "/drop")
    assert status == 200
    status, second = _get(t, "/after")
    assert status == 200 and second.startswith(b"/after") and _conn(second) != _conn(first)


def test_a_lost_answer_is_sent_again_only_when_the_caller_says_it_is_safe(server: tuple[str, list[str]]) -> None:
    url, received = server
    t = Transport(url, ssl.create_default_context())
    _get(t, "/warm")  # so that the next request goes out on a reused connection
    with pytest.raises(OSError):
        t.request("POST", "/create", b"{}", [], timeout=5, resend=False)
    assert received.count("POST /create") == 1  # not sent a second time
    _get(t, "/warm")
    with pytest.raises(OSError):
        _get(t, "/vanish", resend=True)
    assert received.count("GET /vanish") == 2  # once on the reused connection, once on a new one


def test_a_server_refusing_a_large_request_is_heard(server: tuple[str, list[str]]) -> None:
    t = Transport(server[0], ssl.create_default_context())
    r = t.request("POST", "/huge", b"x" * (50 << 20), [], timeout=10, resend=False)
    assert r.status == 413 and b"too large" in r.body


def test_a_refused_connection_is_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    t = Transport(f"http://127.0.0.1:{port}", ssl.create_default_context())
    with pytest.raises(NotSent):
        t.request("POST", "/x", b"{}", [], timeout=5, resend=False)
