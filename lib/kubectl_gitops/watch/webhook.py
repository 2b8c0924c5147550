"""--webhook-addr: push events of GitHub, GitLab, Gitea, Bitbucket Cloud and Bitbucket Server refresh
the apps of the pushed repository at once. Each provider's shared-secret check, as Argo CD's util/webhook does:

- GitHub: X-Hub-Signature-256 = sha256=HMAC-SHA256(secret, body)
- GitLab: X-Gitlab-Token = secret
- Gitea: X-Gitea-Signature = hex HMAC-SHA256(secret, body)
- Bitbucket Cloud: X-Hook-UUID = the webhook's UUID (Bitbucket Cloud signs nothing; Argo CD's
  webhook.bitbucket.uuid)
- Bitbucket Server: X-Hub-Signature = sha256=HMAC-SHA256(secret, body)

Secrets come from the environment (KUBECTL_GITOPS_WEBHOOK_SECRET_GITHUB, ..._GITLAB, ..._GITEA,
..._BITBUCKET for the UUID, ..._BITBUCKETSERVER), never from the command line. A provider with no
secret set is accepted unsigned, as in Argo CD; a wrong or missing signature is answered 401 and
triggers nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from kubectl_gitops.errors import GitopsError

MAX_BODY = 1 << 20  # bytes; a push payload is a few KiB
SECRET_ENV = "KUBECTL_GITOPS_WEBHOOK_SECRET_"
OnPush = Callable[[str, list[str]], int]  # (provider, repository URLs) -> apps refreshed


@dataclass(frozen=True)
class Push:
    provider: str
    urls: list[str]


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _provider(headers: Mapping[str, str]) -> str:
    if headers.get("x-gitea-event"):  # Gitea sends GitHub's headers too: ask it first
        return "gitea"
    if headers.get("x-github-event"):
        return "github"
    if headers.get("x-gitlab-event"):
        return "gitlab"
    if headers.get("x-hook-uuid"):  # Bitbucket Cloud sends X-Event-Key as the Server does: ask it first
        return "bitbucket"
    if headers.get("x-event-key"):
        return "bitbucketserver"
    raise Refused(400, "not a push event of GitHub, GitLab, Gitea, Bitbucket Cloud or Bitbucket Server")


def _signed(provider: str, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    if provider in ("gitlab", "bitbucket"):  # a token (GitLab) or the hook's UUID (Bitbucket Cloud), as sent
        header = "x-gitlab-token" if provider == "gitlab" else "x-hook-uuid"
        return hmac.compare_digest(headers.get(header, "").strip("{}").encode(), secret.strip("{}").encode())
    if provider == "gitea":
        return hmac.compare_digest(headers.get("x-gitea-signature", "").encode(), _hmac_hex(secret, body).encode())
    header = "x-hub-signature-256" if provider == "github" else "x-hub-signature"
    return hmac.compare_digest(headers.get(header, "").encode(), f"sha256={_hmac_hex(secret, body)}".encode())


def _is_push(provider: str, headers: Mapping[str, str]) -> bool:
    event = {"github": "x-github-event", "gitea": "x-gitea-event", "gitlab": "x-gitlab-event",
             "bitbucket": "x-event-key", "bitbucketserver": "x-event-key"}[provider]
    pushes = ("repo:push",) if provider == "bitbucket" else ("push", "Push Hook", "Tag Push Hook", "repo:refs_changed")
    return headers.get(event, "") in pushes


def _urls(provider: str, doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        raise Refused(400, "the payload is not a JSON object")
    repo = doc.get("project" if provider == "gitlab" else "repository") or {}
    if provider == "gitlab":
        keys = ("web_url", "git_http_url", "git_ssh_url")
    elif provider == "bitbucket":  # links.html.href: https://bitbucket.org/WORKSPACE/REPO
        html = (repo.get("links") or {}).get("html") or {} if isinstance(repo, dict) else {}
        return [str(html["href"])] if isinstance(html, dict) and html.get("href") else []
    elif provider == "bitbucketserver":
        return [str(link.get("href")) for link in ((repo.get("links") or {}).get("clone") or [])
                if isinstance(link, dict) and link.get("href")]
    else:
        keys = ("html_url", "clone_url", "ssh_url")
    return [str(repo[k]) for k in keys if isinstance(repo, dict) and repo.get(k)]


def parse_push(headers: Mapping[str, str], body: bytes, secrets: Mapping[str, str]) -> Push | None:
    """The push a request carries (None: another event, answered but ignored); Refused: 400/401."""
    headers = {k.lower(): v for k, v in headers.items()}  # HTTP header names are case-insensitive
    provider = _provider(headers)
    secret = secrets.get(provider, "")
    if secret and not _signed(provider, headers, body, secret):
        raise Refused(401, f"{provider}: the webhook's signature does not match the shared secret")
    if not _is_push(provider, headers):
        return None
    try:
        return Push(provider, _urls(provider, orjson.loads(body)))
    except orjson.JSONDecodeError:
        raise Refused(400, "the payload is not JSON") from None


def secrets_from_env() -> dict[str, str]:
    return {p: os.environ.get(SECRET_ENV + p.upper(), "")
            for p in ("github", "gitlab", "gitea", "bitbucket", "bitbucketserver")}


def parse_addr(addr: str, flag: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise GitopsError(f"{flag} {addr!r}: expected HOST:PORT (127.0.0.1:8080, or :8080 for every interface)")
    return host.strip("[]"), int(port)


def serve(addr: str, on_push: OnPush, log: Callable[..., None]) -> ThreadingHTTPServer:
    secrets = secrets_from_env()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413, "payload too large")
            body = self.rfile.read(length)
            try:
                push = parse_push(dict(self.headers.items()), body, secrets)
            except Refused as e:
                log("webhook refused", status=e.status, reason=str(e))
                return self._answer(e.status, str(e))
            if push is None:
                return self._answer(200, "ignored: not a push event")
            n = on_push(push.provider, push.urls)
            return self._answer(200, f"refreshing {n} app(s)")

        def _answer(self, code: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # what matters is logged as an event

    return listen(addr, "--webhook-addr", Handler)


def listen(addr: str, flag: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """An HTTP server on HOST:PORT answering from daemon threads (the loop's exit does not wait on it)."""
    try:
        server = ThreadingHTTPServer(parse_addr(addr, flag), handler)
    except OSError as e:
        raise GitopsError(f"{flag} {addr}: cannot listen: {e.strerror or e}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=flag.strip("-"), daemon=True).start()
    return server
