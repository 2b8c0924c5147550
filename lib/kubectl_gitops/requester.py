"""One request to the API server and its fate, decided once: its timeout (the time the command has
left, and --request-timeout), retries with backoff and jitter (Retry-After honoured) of what is safe to
send again, a new credential after a 401, and HTTP failures mapped to ApiError with the verb and
resource named. A POST is sent again only when it provably never reached the server. cluster.Client
builds discovery and each verb on it.
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from kubectl_gitops import interrupt
from kubectl_gitops.credentials import Credentials
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj
from kubectl_gitops.transport import NotSent, Response, Transport

APPLY_PATCH = "application/apply-patch+yaml"
REQUEST_TIMEOUT = 60.0  # seconds one request may wait for the network, unless --request-timeout says
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 8  # sends of one request at most
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0  # seconds; doubled per attempt, with jitter
# Failures that another attempt would only repeat: an untrusted certificate, a name that does not resolve.
PERMANENT = (ssl.SSLCertVerificationError, socket.gaierror)
DEADLINE_MARGIN = 2.0  # seconds requests may take past the command's --timeout
GRACE_SECONDS = 5.0  # past the deadline, for the lease's own requests (its release)


class ApiError(GitopsError):
    """An API call failed; `status` is the HTTP status (0 when no answer came)."""

    def __init__(self, message: str, *, status: int, reason: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


@dataclass
class Requester:
    """Where requests go (one cluster) and what they may spend. Thread-safe: requests may run from a
    worker pool."""

    transport: Transport
    host: str
    context: str
    namespace: str
    credentials: Credentials = field(default_factory=lambda: Credentials(None, []))
    request_timeout: float | None = REQUEST_TIMEOUT  # None: no limit but the deadline
    deadline: float | None = None  # time.monotonic() by which the command must end
    budget: float = 0.0  # the command's --timeout, for messages
    # Asked before every write; a fence raises to stop it (the lease was lost).
    fences: list[Callable[[], None]] = field(default_factory=list)
    requests: int = 0
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_deadline(self, seconds: float) -> None:
        """The command's --timeout. Requests may go on a little past it, so that the command's own
        checks (which say what it was waiting for) come first and its last bookkeeping writes (the
        app record) still go out."""
        self.deadline, self.budget = time.monotonic() + seconds + DEADLINE_MARGIN, seconds

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                body: Obj | None = None, content_type: str = "application/json",
                accept: str = "application/json", what: str = "", fenced: bool = True) -> Any:
        """Send one request, retried as far as it is safe. `fenced=False` for the lease's own writes,
        which must go out after a signal or once the lease is lost."""
        what = what or f"{method} {path}"
        write = method != "GET" and not (query or {}).get("dryRun")
        # Safe to send twice: reads, deletes, server-side apply, and a PUT guarded by resourceVersion.
        safe = method in ("GET", "DELETE") or (method == "PATCH" and content_type == APPLY_PATCH) or (
            method == "PUT" and bool(((body or {}).get("metadata") or {}).get("resourceVersion")))
        url = path + (f"?{urlencode(query)}" if query else "")
        data = orjson.dumps(body) if body is not None else None
        refreshed = False
        for attempt in range(ATTEMPTS):
            if write and fenced:  # asked before every attempt: a retry may come after a signal
                interrupt.check()
                for fence in self.fences:
                    fence()
            timeout = self._timeout(what, grace=not fenced)
            auth, generation = self.credentials.headers()
            headers = [("Accept", accept), ("Content-Type", content_type), ("User-Agent", "kubectl-gitops"), *auth]
            with self._lock:
                self.requests += 1
                self.writes += write
            try:
                resp = self.transport.request(method, url, data, headers, timeout=timeout, resend=safe)
            except NotSent as e:  # nothing reached the server: any request may go again
                cause = e.__cause__ or e
                if isinstance(cause, PERMANENT):
                    raise self._unreachable(what, cause) from None
                self._pause(attempt, None, what, cause)
                continue
            except (OSError, http.client.HTTPException) as e:
                if isinstance(e, TimeoutError) and self.deadline is not None and time.monotonic() >= self.deadline:
                    raise self._timed_out(what) from None
                if not safe or isinstance(e, TimeoutError):  # a timeout is not multiplied by retries
                    raise self._lost_answer(method, what, e) from None
                self._pause(attempt, None, what, e)
                continue
            if resp.status < 400:
                return orjson.loads(resp.body) if resp.body else None
            if resp.status == 401 and not refreshed and self.credentials.refresh(generation):
                refreshed = True  # an expired or rotated credential: once more with a new one
                continue
            # A 429 is the server's flow control refusing the request before acting on it.
            if resp.status in RETRY_STATUSES and (safe or resp.status == 429) and attempt + 1 < ATTEMPTS:
                self._pause(attempt, resp, what, None)
                continue
            raise _api_error(resp, what, self)
        raise self._unreachable(what, None)

    def _timeout(self, what: str, grace: bool) -> float | None:
        """The time this attempt may wait; `grace` (releasing a lease) gets a few seconds past the deadline."""
        if self.deadline is None:
            return self.request_timeout
        left = self.deadline - time.monotonic() + (GRACE_SECONDS if grace else 0.0)
        if left <= 0:
            raise self._timed_out(what)
        return min(left, self.request_timeout) if self.request_timeout else left

    def _pause(self, attempt: int, resp: Response | None, what: str, error: BaseException | None) -> None:
        """Wait before the next attempt; raise when there is none (attempts or time used up)."""
        if attempt + 1 >= ATTEMPTS:
            raise self._unreachable(what, error) if resp is None else _api_error(resp, what, self)
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** attempt) * random.uniform(0.5, 1.0)
        retry_after = resp.headers.get("Retry-After", "") if resp is not None else ""
        if retry_after.strip().isdigit():
            delay = float(retry_after)
        if self.deadline is not None and time.monotonic() + delay >= self.deadline:
            if resp is not None:
                raise _api_error(resp, what, self)
            raise self._timed_out(what) if isinstance(error, TimeoutError) else self._unreachable(what, error)
        time.sleep(delay)

    def _unreachable(self, what: str, error: BaseException | None) -> ApiError:
        cause = _root_cause(error) if error is not None else "no answer"
        return ApiError(f"cannot reach the cluster at {self.host} (context {self.context!r}): {cause} ({what})",
                        status=0)

    def _lost_answer(self, method: str, what: str, error: BaseException) -> ApiError:
        return ApiError(f"{what}: the connection to {self.host} broke before the answer came "
                        f"({_root_cause(error)}); the {method} may have been carried out, so it is not "
                        "sent again", status=0, hint="run the command again: it starts from what the cluster has")

    def _timed_out(self, what: str) -> ApiError:
        return ApiError(f"timed out after {self.budget:.0f}s (--timeout) waiting for {what}", status=0)


def _api_error(resp: Response, what: str, client: Requester) -> ApiError:
    """The one mapping of an HTTP failure to the message a user reads."""
    status = resp.status
    try:
        doc = orjson.loads(resp.body)
        message, reason = doc.get("message", ""), doc.get("reason", "")
    except orjson.JSONDecodeError:
        message, reason = resp.body.decode(errors="replace").strip()[:200], ""
    if status == 401:
        return ApiError(f"unauthorized (401) for {what} on {client.host}: check the credentials of "
                        f"context {client.context!r}", status=status, reason=reason)
    if status == 403:
        who = next((f"the impersonated user {v!r}" for k, v in client.credentials.impersonation
                    if k == "Impersonate-User"), f"the user of context {client.context!r}")
        return ApiError(f"forbidden (403): cannot {what}: {message}", status=status, reason=reason,
                        hint=f"{who} lacks RBAC permission for it")
    if status == 413:
        return ApiError(f"{what}: the API server refused it as too large (413): {message or reason}",
                        status=status, reason=reason, hint="the API server takes requests up to 3 MiB by default")
    if status == 429:
        return ApiError(f"{what}: the API server kept answering 429 Too Many Requests: {message}", status=status,
                        reason=reason)
    return ApiError(f"{what}: {message or reason or http.client.responses.get(status, 'error')} ({status})",
                    status=status, reason=reason)


def _root_cause(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError) or not isinstance(e, OSError):
        return str(e) or type(e).__name__
    return e.strerror or str(e) or type(e).__name__  # "Connection refused", not "[Errno 111] ..."
