"""Keep-alive HTTPS connections to one API server, shared by threads, on the standard library.

A sync sends thousands of small requests from a pool of threads on the same machine as a busy API
server: http.client costs about half the client CPU of urllib3 per request and imports in a third of
the time, and all we need is a pool of persistent connections, a CONNECT tunnel for a proxy and a
TLS server name that may differ from the host.

Policy (what is retried, timeouts) is the caller's (cluster.py); this module only tells apart a request
that never left (`NotSent`: safe to send again whatever it was) from one whose answer was lost.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

CONNECT_TIMEOUT = 10.0  # seconds to open a connection, at most
POOL_SIZE = 16  # idle connections kept; more are opened while more threads are busy
# How a kept-alive connection the server closed while idle shows itself.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
Headers = list[tuple[str, str]]  # a list: Impersonate-Group may be sent several times


class NotSent(OSError):
    """The request did not reach the server whole (connecting, the TLS handshake or writing it failed),
    so the server cannot have acted on it."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class _Connection(http.client.HTTPSConnection):
    """TLS with an explicit server name (kubeconfig `tls-server-name`)."""

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


class Transport:
    """`request()` from any thread; connections are reused, LIFO, and dropped when the server closed them."""

    def __init__(self, server: str, ssl_context: ssl.SSLContext, server_name: str | None = None,
                 proxy_url: str | None = None) -> None:
        url = urlsplit(server)
        self.base_path = url.path.rstrip("/")  # a server URL may carry a path prefix
        self._url, self._server_name, self._proxy_url = url, server_name, proxy_url
        self._new = self._factory(url, ssl_context, server_name, proxy_url)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """New client credentials (a refreshed exec certificate): later connections present them."""
        with self._lock:
            self._new = self._factory(self._url, ssl_context, self._server_name, self._proxy_url)
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

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

    def request(self, method: str, path: str, body: bytes | None, headers: Headers, *, timeout: float | None,
                resend: bool) -> Response:
        """One exchange; `timeout` bounds each wait for the network (None: no bound). A kept-alive connection the server
        had closed is replaced at once, and the request sent again on a new one when it provably never
        arrived, or when `resend` says the request is safe to repeat."""
        conn, reused = self._take()
        try:
            try:
                resp, keep = _exchange(conn, method, self.base_path + path, body, headers, timeout)
            except NotSent as e:
                conn.close()
                if not (reused and isinstance(e.__cause__, _STALE)):
                    raise
                conn = self._new()
                resp, keep = _exchange(conn, method, self.base_path + path, body, headers, timeout)
            except _STALE:
                conn.close()
                if not (reused and resend):
                    raise
                conn = self._new()
                resp, keep = _exchange(conn, method, self.base_path + path, body, headers, timeout)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._give(conn)
        else:
            conn.close()
        return resp

    def open_stream(self, path: str, headers: Headers, *, timeout: float | None) -> http.client.HTTPResponse:
        """A GET whose answer is read as it comes (a WATCH), on a connection of its own that is never
        pooled: closing the response closes it. `timeout` bounds each wait for more of the answer."""
        conn = self._new()
        conn.timeout = CONNECT_TIMEOUT
        try:
            conn.connect()
            conn.sock.settimeout(timeout)
            conn.putrequest("GET", self.base_path + path, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            return conn.getresponse()
        except BaseException:
            conn.close()
            raise

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


def _exchange(conn: _Connection, method: str, path: str, body: bytes | None, headers: Headers,
              timeout: float | None) -> tuple[Response, bool]:
    if conn.sock is None:  # None: no limit but the connect timeout
        conn.timeout = CONNECT_TIMEOUT if timeout is None else min(timeout, CONNECT_TIMEOUT)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as e:
            raise NotSent(str(e) or type(e).__name__) from e
    conn.sock.settimeout(timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
    except OSError as e:
        # A server that refuses a request while it is still being sent (413: too large) answers and
        # closes: its answer says more than "broken pipe".
        early = None if isinstance(e, TimeoutError) else _early_answer(conn)
        if early is not None:
            return early, False
        raise NotSent(str(e) or type(e).__name__) from e
    resp = conn.getresponse()
    data = resp.read()
    return Response(resp.status, resp.msg, data), not resp.will_close


def _early_answer(conn: _Connection) -> Response | None:
    try:
        conn.sock.settimeout(1.0)
        resp = http.client.HTTPResponse(conn.sock, method="POST")
        resp.begin()
        return Response(resp.status, resp.msg, resp.read())
    except (OSError, http.client.HTTPException, ValueError):
        return None
