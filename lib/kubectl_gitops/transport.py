"""Keep-alive HTTPS connections to one API server, shared by threads, on the standard library.

A sync sends thousands of small requests from a pool of threads on the same machine as a busy API
server: http.client costs about half the client CPU of urllib3 per request and imports in a third of
the time, and all we need is a pool of persistent connections, a CONNECT tunnel for `proxy-url` and a
TLS server name that may differ from the host.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
from collections.abc import Callable
from urllib.parse import SplitResult, unquote, urlsplit

CONNECT_TIMEOUT = 10.0  # seconds to open a connection
READ_TIMEOUT = 60.0  # seconds a response may take
POOL_SIZE = 16  # idle connections kept; more are opened while more threads are busy
# The server closed a kept-alive connection before it read our request: safe to send it again once.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _Connection(http.client.HTTPSConnection):
    """TLS with an explicit server name (kubeconfig `tls-server-name`) and separate timeouts."""

    def __init__(self, host: str, port: int | None, context: ssl.SSLContext | None, server_name: str | None,
                 tls: bool) -> None:
        super().__init__(host, port, timeout=CONNECT_TIMEOUT, context=context)
        self.server_name, self.tls = server_name, tls

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP, and the CONNECT tunnel when there is a proxy
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            name = self.server_name or self._tunnel_host or self.host  # type: ignore[attr-defined]
            self.sock = self._context.wrap_socket(self.sock, server_hostname=name)  # type: ignore[attr-defined]
        self.sock.settimeout(READ_TIMEOUT)


class Transport:
    """`request()` from any thread; connections are reused, LIFO, and dropped when the server closed them."""

    def __init__(self, server: str, ssl_context: ssl.SSLContext, server_name: str | None = None,
                 proxy_url: str | None = None) -> None:
        url = urlsplit(server)
        self.base_path = url.path.rstrip("/")  # a server URL may carry a path prefix
        self._new = self._factory(url, ssl_context, server_name, proxy_url)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    @staticmethod
    def _factory(url: SplitResult, ctx: ssl.SSLContext, server_name: str | None,
                 proxy_url: str | None) -> Callable[[], _Connection]:
        tls = url.scheme == "https"
        port = url.port or (443 if tls else 80)
        if not proxy_url:
            return lambda: _Connection(url.hostname or "", port, ctx, server_name, tls)
        proxy = urlsplit(proxy_url)
        headers = {}
        if proxy.username:
            cred = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(cred).decode()

        def tunnelled() -> _Connection:
            conn = _Connection(proxy.hostname or "", proxy.port or 80, ctx, server_name, tls)
            conn.set_tunnel(url.hostname or "", port, headers=headers)
            return conn
        return tunnelled

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        conn, reused = self._take()
        try:
            try:
                status, data, keep = _send(conn, method, self.base_path + path, body, headers)
            except _STALE:
                conn.close()
                if not reused:
                    raise
                conn = self._new()
                status, data, keep = _send(conn, method, self.base_path + path, body, headers)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._give(conn)
        else:
            conn.close()
        return status, data

    def _take(self) -> tuple[_Connection, bool]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.sock is not None and not select.select([conn.sock], [], [], 0)[0]:
                    return conn, True
                conn.close()  # readable while idle: the server closed it (or sent junk)
        return self._new(), False

    def _give(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(conn)
                return
        conn.close()


def _send(conn: _Connection, method: str, path: str, body: bytes | None,
          headers: dict[str, str]) -> tuple[int, bytes, bool]:
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data, not resp.will_close
