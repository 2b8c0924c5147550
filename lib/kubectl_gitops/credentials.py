"""The headers that say who we are, kept fresh while a command runs: an exec plugin's credential is
fetched again when its expirationTimestamp passes or the server answers 401, and a token file (a
kubeconfig tokenFile, the in-cluster service-account token, which the kubelet rotates) is read again on
a 401 and at most a minute after the last read, like client-go.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kubectl_gitops.errors import GitopsError

Doc = dict[str, Any]
Headers = list[tuple[str, str]]
Fetch = Callable[[], "Secret"]
EXEC_TIMEOUT = 60  # seconds an exec credential plugin may take (it may prompt a browser login)
TOKEN_FILE_SECONDS = 60.0  # a token file is read again after this long
EXPIRY_MARGIN = 10.0  # an exec credential is renewed this long before it expires


@dataclass(frozen=True)
class Secret:
    """One fetched credential: the Authorization header and/or a client certificate."""

    authorization: str | None = None
    cert: bytes | None = None
    key: bytes | None = None
    expires: float | None = None  # epoch seconds


class Credentials:
    """Thread-safe; `headers()` for each request, `refresh()` after a 401."""

    def __init__(self, fetch: Fetch | None, impersonation: Headers, *,
                 max_age: float | None = None) -> None:
        self._fetch, self._max_age = fetch, max_age
        self.impersonation = impersonation
        self._lock = threading.Lock()
        self._secret = fetch() if fetch else Secret()
        self._fetched = time.monotonic()
        self.generation = 0  # bumped on each new credential, so concurrent 401s refresh once
        self.on_new_certificate: Callable[[bytes, bytes], None] | None = None

    @property
    def client_certificate(self) -> tuple[bytes, bytes] | None:
        s = self._secret
        return (s.cert, s.key) if s.cert and s.key else None

    def headers(self) -> tuple[Headers, int]:
        if self._stale():
            self.refresh(self.generation)
        secret, generation = self._secret, self.generation
        auth = [("Authorization", secret.authorization)] if secret.authorization else []
        return auth + self.impersonation, generation

    def refresh(self, seen: int) -> bool:
        """Fetch a new credential unless another thread already did since `seen`; False when there
        is nothing to fetch again (a static token)."""
        if self._fetch is None:
            return False
        with self._lock:
            if self.generation == seen:
                old, self._secret = self._secret, self._fetch()
                self._fetched, self.generation = time.monotonic(), self.generation + 1
                new = self._secret
                if new.cert and new.key and (new.cert, new.key) != (old.cert, old.key) and self.on_new_certificate:
                    self.on_new_certificate(new.cert, new.key)
        return True

    def _stale(self) -> bool:
        if self._fetch is None:
            return False
        expires = self._secret.expires
        if expires is not None and time.time() > expires - EXPIRY_MARGIN:
            return True
        return self._max_age is not None and time.monotonic() - self._fetched > self._max_age


def token_file(path: Path, where: str) -> Fetch:
    def read() -> Secret:
        try:
            return Secret(authorization=f"Bearer {path.read_text().strip()}")
        except OSError as e:
            raise GitopsError(f"{where}: cannot read the token file {path}: {e.strerror}") from None
    return read


def exec_plugin(spec: Doc, where: str) -> Fetch:
    """A client.authentication.k8s.io exec plugin; each call runs it and reads its ExecCredential."""
    command = spec.get("command")
    if not command:
        raise GitopsError(f"{where}: exec plugin without a command")
    env = {**os.environ, **{e["name"]: e["value"] for e in spec.get("env") or [] if "name" in e}}
    env["KUBERNETES_EXEC_INFO"] = json.dumps({
        "apiVersion": spec.get("apiVersion", "client.authentication.k8s.io/v1"), "kind": "ExecCredential",
        "spec": {"interactive": False}})

    def run() -> Secret:
        try:
            proc = subprocess.run([command, *(spec.get("args") or [])], env=env, capture_output=True, text=True,
                                  timeout=EXEC_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise GitopsError(f"{where}: exec plugin {command!r} could not run: {e}",
                              hint=spec.get("installHint")) from None
        if proc.returncode != 0:
            raise GitopsError(f"{where}: exec plugin {command!r} failed (exit {proc.returncode}): "
                              f"{proc.stderr.strip()[:500]}")
        try:
            status = json.loads(proc.stdout).get("status") or {}
        except (ValueError, AttributeError):
            raise GitopsError(f"{where}: exec plugin {command!r} did not print an ExecCredential") from None
        return Secret(authorization=f"Bearer {status['token']}" if status.get("token") else None,
                      cert=status.get("clientCertificateData", "").encode() or None,
                      key=status.get("clientKeyData", "").encode() or None,
                      expires=_expiry(status.get("expirationTimestamp"), where))
    return run


def _expiry(value: str | None, where: str) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise GitopsError(f"{where}: exec plugin's expirationTimestamp {value!r} is not an RFC 3339 time") from None
