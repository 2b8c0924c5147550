"""The per-app sync lock: a coordination.k8s.io Lease held while a sync writes."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
from datetime import UTC, datetime

from kubectl_gitops.cluster import ApiError, ApiResource, Client, resource_or_error
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj, ResourceKey

LEASE_SECONDS = 60


class AppLock:
    """A coordination.k8s.io Lease per app: one sync at a time; a lease not renewed expires."""

    def __init__(self, client: Client, app: str, namespace: str) -> None:
        self.client, self.app, self.namespace = client, app, namespace
        self.name = f"kubectl-gitops-sync-{app}"[:253]
        self.holder = f"{getpass.getuser()}@{socket.gethostname()}/{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.res: ApiResource = resource_or_error(client, ResourceKey("coordination.k8s.io", "Lease", namespace,
                                                                      self.name), "sync lock")

    def acquire(self) -> None:
        now = _now()
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"holderIdentity": self.holder, "leaseDurationSeconds": LEASE_SECONDS,
                         "acquireTime": now, "renewTime": now}}
        try:
            self.client.create(self.res, body)
        except ApiError as e:
            if e.status != 409:
                raise
            self._take_over_if_stale(body)
        self._thread = threading.Thread(target=self._renew, daemon=True)
        self._thread.start()

    def _take_over_if_stale(self, body: Obj) -> None:
        live = self.client.get(self.res, self.namespace, self.name) or {}
        spec = live.get("spec") or {}
        renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
        age = time.time() - renewed if renewed else float("inf")
        if age < (spec.get("leaseDurationSeconds") or LEASE_SECONDS):
            acquired = _parse_time(spec.get("acquireTime"))
            held = f"{time.time() - acquired:.0f}s" if acquired else "unknown time"
            raise GitopsError(f"app {self.app}: another sync is running: lease {self.namespace}/{self.name} is "
                              f"held by {spec.get('holderIdentity')} (for {held})",
                              hint=f"wait for it, or delete the lease if that sync died (it expires "
                                   f"{LEASE_SECONDS}s after its last renewal)")
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        try:
            self.client.replace(self.res, body)  # optimistic: fails if someone else took it first
        except ApiError as e:
            if e.status == 409:
                raise GitopsError(f"app {self.app}: another sync took the lease first") from None
            raise

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            # A failed renewal is retried next time; the sync itself reports real API failures.
            with contextlib.suppress(GitopsError):
                self.client.merge_patch(self.res, self.namespace, self.name, {"spec": {"renewTime": _now()}})

    def release(self) -> None:
        self._stop.set()
        with contextlib.suppress(GitopsError):  # an unreleased lease expires by itself
            self.client.delete(self.res, self.namespace, self.name, propagation="Background")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
