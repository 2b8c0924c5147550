"""A loopback TLS proxy in front of the real API server that injects faults: it can delay, pause,
reset or answer 429/500/503 (or any status) instead of the server, per rule, and records what passed.

TLS is terminated with a certificate from the test cluster's own CA, so clients trust it as they trust
the API server; requests go on to the server over a kept-alive connection per client connection.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PAUSE_LIMIT = 120.0  # a paused request goes on by itself after this long, so no test can hang on it


@dataclass
class Rule:
    """What to do with requests whose method and path (with query) match.

    action: "answer" (status/headers/body instead of the server), "reset" (drop the connection before
    forwarding), "lost" (forward, then drop the connection instead of answering), "delay" (seconds),
    "pause" (hold until `FaultProxy.release()`). `times`: how many matches it applies to (0: every one);
    `every`: only every n-th match. `hook` runs when the rule fires."""

    action: str
    method: str | None = None
    path: str = ""
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected"}'
    times: int = 1
    every: int = 1
    seconds: float = 0.0
    hook: Callable[[], None] | None = None
    matched: int = 0
    fired: int = 0

    def fires(self, method: str, path: str) -> bool:
        if (self.method and self.method != method) or not re.search(self.path, path):
            return False
        self.matched += 1
        if self.matched % self.every or (self.times and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class Seen:
    at: float
    method: str
    path: str
    outcome: str  # the status sent, or the action taken
    authorization: str


class FaultProxy:
    def __init__(self, upstream: str, ca: Path, cert: Path, key: Path) -> None:
        self.upstream = urlsplit(upstream)
        self.upstream_ctx = ssl.create_default_context(cafile=str(ca))
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._go = threading.Event()  # what "pause" rules wait for
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def release(self) -> None:
        """Let paused requests, and every later one a "pause" rule matches, go on."""
        self._go.set()

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self, method: str | None = None, path: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if (not method or s.method == method) and re.search(path, s.path)]

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            return next((r for r in self.rules if r.fires(method, path)), None)

    def _record(self, method: str, path: str, outcome: str, authorization: str) -> None:
        with self._lock:
            self.seen.append(Seen(time.monotonic(), method, path, outcome, authorization))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy
    _upstream: http.client.HTTPSConnection | None = None

    def log_message(self, *args: object) -> None:
        pass

    def _any(self) -> None:
        p = self.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        rule = p._rule_for(self.command, self.path)
        if rule and rule.hook:
            rule.hook()
        action = rule.action if rule else "forward"
        if action == "answer":
            p._record(self.command, self.path, str(rule.status), auth)
            self._reply(rule.status, {"Content-Type": "application/json", **rule.headers}, rule.body)
            return
        if action == "reset":
            p._record(self.command, self.path, "reset", auth)
            self._reset()
            return
        if action == "delay":
            time.sleep(rule.seconds)
        if action == "pause":
            p._record(self.command, self.path, "paused", auth)
            p._go.wait(PAUSE_LIMIT)
        status, headers, data = self._forward(body)
        if action == "lost":
            p._record(self.command, self.path, f"{status} lost", auth)
            self._reset()
            return
        p._record(self.command, self.path, str(status), auth)
        self._reply(status, headers, data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        p = self.owner
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        for _ in range(2):  # the kept-alive upstream connection may have been closed meanwhile
            if self._upstream is None:
                self._upstream = http.client.HTTPSConnection(p.upstream.hostname, p.upstream.port,
                                                             context=p.upstream_ctx, timeout=PAUSE_LIMIT)
            try:
                self._upstream.request(self.command, self.path, body=body if body else None, headers=headers)
                resp = self._upstream.getresponse()
                data = resp.read()
                out = {k: v for k, v in resp.getheaders()
                       if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                return resp.status, out, data
            except (OSError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
        return 502, {"Content-Type": "text/plain"}, b"proxy: the API server did not answer"

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client stopped waiting (its timeout) while the answer was delayed
            self.close_connection = True

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, as a crashed server or a broken network does."""
        self.close_connection = True
        sock = self.connection
        raw = socket.socket(fileno=sock.detach()) if isinstance(sock, ssl.SSLSocket) else sock
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
        self.rfile = self.wfile = _Closed()  # type: ignore[assignment]


class _Closed:
    closed = True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_cert(state: Path, out: Path) -> tuple[Path, Path]:
    """A serving certificate for 127.0.0.1 signed by the test cluster's CA (in its state directory)."""
    key, csr, cert, ext = out / "proxy.key", out / "proxy.csr", out / "proxy.crt", out / "proxy.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=fault-proxy")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(state / "ca.crt"), "-CAkey", str(state / "ca.key"),
            "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))
    return cert, key
