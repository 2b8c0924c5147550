"""Loopback stand-ins for notification receivers, started and stopped by the tests: an HTTP server
that records every request (a webhook receiver, and Slack's Web API at /api/), and an SMTP server
(aiosmtpd) with STARTTLS and AUTH, plus the catalog ConfigMap written with their addresses."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CM = Path(__file__).parent / "fixtures" / "notify" / "argocd-notifications-cm.yaml"
SECRETS = {"receiver-token": "tok-RECEIVER-0123", "receiver-password": "pw-RECEIVER-4567",
           "slack-token": "xoxb-SLACK-89ab", "email-password": "pw-EMAIL-cdef"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


@dataclass
class HttpRecorder:
    url: str
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered first, in order; then 200


@contextmanager
def http_recorder() -> Iterator[HttpRecorder]:
    rec = HttpRecorder("")

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec.requests.append(Request(self.command, self.path, dict(self.headers), body))
            status = rec.statuses.pop(0) if rec.statuses else 200
            if self.path.startswith("/api/chat."):
                reply = json.dumps({"ok": True, "channel": "C1", "ts": f"{len(rec.requests)}.0001"}).encode()
            else:
                reply = b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = handle_one

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: str
    tls: bool
    login: str


@contextmanager
def smtp_server(tmp: Path, password: str) -> Iterator[tuple[int, list[Mail]]]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS and AUTH (user `mailer`, `password`); its
    self-signed certificate is made in `tmp` unless one is there already."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    key, cert = tmp / "smtp.key", tmp / "smtp.crt"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    mails: list[Mail] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            login = session.auth_data.login.decode() if session.auth_data else ""
            mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode(),
                              session.ssl is not None, login))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = auth_data.login == b"mailer" and auth_data.password == password.encode()
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        yield port, mails
    finally:
        controller.stop()


def write_settings(tmp: Path, *, receiver: str, slack_api: str, smtp_port: int, extra: str = "") -> tuple[Path, Path]:
    """The catalog ConfigMap with these addresses, and the Secret holding SECRETS."""
    text = CM.read_text().replace("RECEIVER_URL", receiver).replace("SLACK_API_URL", slack_api)
    cm = tmp / "argocd-notifications-cm.yaml"
    cm.write_text(text.replace("SMTP_PORT", str(smtp_port)) + extra)
    secret = tmp / "argocd-notifications-secret.yaml"
    secret.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: argocd-notifications-secret\nstringData:\n"
                      + "".join(f"  {k}: {v}\n" for k, v in SECRETS.items()))
    return cm, secret


@contextmanager
def dead_port() -> Iterator[int]:
    """A port that refuses connections: bound and held, never listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
