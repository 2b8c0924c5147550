"""The per-app sync lock: a coordination.k8s.io Lease held while a sync writes, with fencing.

A lease is ours only while our own clock says it has not expired since our last successful renewal
(counted from when that renewal was sent). Every write asks `check()` first (a Client fence): once
the lease is lost, or may have expired (the process was paused, renewals failed), nothing more is
written until a renewal proves it is still ours. Renewal and release are guarded by the holder and the
resourceVersion, so a sync that lost its lease never renews or deletes the one a second sync took over.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import socket
import threading
import time
from datetime import UTC, datetime

from kubectl_gitops.cluster import ApiError, ApiResource, Client, resource_or_error
from kubectl_gitops.errors import EXIT_CHANGED, GitopsError, Halt
from kubectl_gitops.model import Obj, ResourceKey

LEASE_SECONDS = 60
RENEW_FRACTION = 1 / 4  # of its duration: a lease is renewed three times before it could expire
MARGIN_SECONDS = 10.0  # a write is sent only while the lease stays ours at least this long
ACQUIRE_TRIES = 5  # a lease that vanishes or changes between our requests is tried again


class LeaseLost(Halt):
    """The lease is no longer ours: the sync stops before its next write."""


class LeaseHeld(GitopsError):
    """Another live sync holds the app's lease: nothing was written; try again later."""


class AppLock:
    """A coordination.k8s.io Lease per app: one sync at a time; a lease not renewed expires.

    watch's sharing of apps between replicas holds Leases of its own the same way (`name`, `seconds`),
    without fencing: they say who reconciles an app, while the sync Lease guards the writes."""

    def __init__(self, client: Client, app: str, namespace: str, *, name: str = "", seconds: int = LEASE_SECONDS,
                 fence: bool = True) -> None:
        self.client, self.app, self.namespace = client, app, namespace
        self.name = (name or f"kubectl-gitops-sync-{app}")[:253]
        self.seconds, self.fence = seconds, fence
        # The PID tells a person who holds it; the nonce tells this process from a reused PID.
        self.holder = f"{getpass.getuser()}@{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
        self.res: ApiResource = resource_or_error(client, ResourceKey("coordination.k8s.io", "Lease", namespace,
                                                                      self.name), "sync lock")
        self._path = self.res.path(namespace, self.name)
        self._live: Obj | None = None  # the lease as we last wrote or read it, while it is ours
        self._valid_until = 0.0  # time.monotonic() by which it expires unless renewed
        self._renewed = 0.0  # when the last successful renewal was sent
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewing = threading.Lock()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Create the lease, or take over an expired one; a lease this process already holds (a create
        whose answer was lost) is ours. Raises when another live sync holds it."""
        for _ in range(ACQUIRE_TRIES):
            sent = time.monotonic()
            try:
                self._hold(self.client.request("POST", self.res.path(self.namespace), body=_body(self, None),
                                               what=f"create lease {self.namespace}/{self.name}",
                                               fenced=self.fence), sent)
                break
            except ApiError as e:
                if e.status not in (0, 409):  # 0: the answer was lost; the create may have happened
                    raise
            live = self.client.get(self.res, self.namespace, self.name)
            if live is None:
                continue  # gone between the 409 and the GET (released meanwhile): create it again
            if holder_of(live) == self.holder:
                self._hold(live, sent)
                break
            _refuse_if_held(live, self.app, self.namespace, self.name, self.seconds)
            sent = time.monotonic()
            try:
                self._hold(self._put(_body(self, live)), sent)  # optimistic: fails if another took it first
                break
            except ApiError as e:
                if e.status not in (404, 409):
                    raise
        else:
            raise GitopsError(f"app {self.app}: could not acquire lease {self.namespace}/{self.name}: it changed "
                              f"under each of {ACQUIRE_TRIES} attempts", hint="another sync is starting; retry")
        if self.fence:
            self.client.fences = [*self.client.fences, self.check]  # replaced, not changed: threads iterate it
        self._thread = threading.Thread(target=self._renew_loop, daemon=True)
        self._thread.start()

    @property
    def held(self) -> bool:
        """Still ours by our own clock: renewed within its duration, and not lost."""
        return self._lost is None and self._live is not None and time.monotonic() < self._valid_until

    def check(self) -> None:
        """Before each write: raise LeaseLost unless the lease is surely still ours."""
        if self._lost is None and time.monotonic() + MARGIN_SECONDS > self._valid_until:
            self._renew()  # our clock says it may be about to expire: prove it is ours first
        if self._lost is None and time.monotonic() + MARGIN_SECONDS > self._valid_until:
            self._lose("it could not be renewed before it expires")
        if self._lost is not None:
            raise LeaseLost(f"lost the sync lease {self.namespace}/{self.name} ({self._lost}); "
                            "no further write was sent", exit_code=EXIT_CHANGED,
                            hint="another sync of this app may be running: let it finish, then sync again")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds * RENEW_FRACTION):
            self._renew()

    def _renew(self) -> None:
        """Write a new renewTime guarded by resourceVersion; a conflict means someone else wrote the
        lease, which stays ours only if it still names us (our own earlier renewal, its answer lost)."""
        with self._renewing:
            live = self._live
            sent = time.monotonic()
            if self._lost is not None or live is None or self._stop.is_set() or sent - self._renewed < 1.0:
                return  # lost, released, or just renewed by another thread
            try:
                self._hold(self._put({**live, "spec": {**live["spec"], "renewTime": _now()}}), sent)
                return
            except ApiError as e:
                if e.status not in (404, 409):
                    return  # the API is unreachable for now: check() stops writes once it may have expired
            with contextlib.suppress(GitopsError):
                current = self.client.get(self.res, self.namespace, self.name)
                if current is None:
                    self._lose("it was deleted")
                elif holder_of(current) != self.holder:
                    self._lose(f"it is now held by {holder_of(current)}")
                else:
                    self._live = current  # renewed by our own retried request; renewed again next time

    def _lose(self, why: str) -> None:
        self._lost, self._live = why, None

    def release(self) -> None:
        """Delete the lease if it is still ours: the delete is conditional on its resourceVersion."""
        self._stop.set()
        self.client.fences = [f for f in self.client.fences if f != self.check]
        with self._renewing:
            live, self._live = self._live, None
        if live is None:
            return  # never ours, or lost: never delete what another sync holds
        delete(self.client, self.res, live)

    def _put(self, body: Obj) -> Obj:
        result: Obj = self.client.request("PUT", self._path, body=body, fenced=False,
                                          what=f"renew lease {self.namespace}/{self.name}")
        return result

    def _hold(self, live: Obj, sent: float) -> None:
        self._live, self._renewed = live, sent
        self._valid_until = sent + ((live.get("spec") or {}).get("leaseDurationSeconds") or self.seconds)


def _refuse_if_held(live: Obj, app: str, namespace: str, name: str, seconds: int) -> None:
    spec = live.get("spec") or {}
    if alive(live, seconds):
        acquired = _parse_time(spec.get("acquireTime"))
        held = f"{time.time() - acquired:.0f}s" if acquired else "unknown time"
        raise LeaseHeld(f"app {app}: another sync is running: lease {namespace}/{name} is "
                        f"held by {spec.get('holderIdentity')} (for {held})",
                        hint=f"wait for it, or delete the lease if that sync died (it expires "
                             f"{seconds}s after its last renewal)")


def _body(lock: AppLock, live: Obj | None) -> Obj:
    """The lease naming us as holder; over `live`, guarded by its resourceVersion."""
    now = _now()
    meta: Obj = {"name": lock.name, "namespace": lock.namespace}
    if live is not None:
        meta["resourceVersion"] = live["metadata"]["resourceVersion"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": lock.holder, "leaseDurationSeconds": lock.seconds,
                     "acquireTime": now, "renewTime": now}}


def delete(client: Client, res: ApiResource, live: Obj) -> None:
    """Delete a lease as it was read: conditional on its resourceVersion, so one renewed or taken over
    meanwhile stays. Not deleted (unreachable, changed): it expires by itself."""
    meta = live["metadata"]
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
            "preconditions": {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}}
    with contextlib.suppress(GitopsError):
        client.request("DELETE", res.path(meta["namespace"], meta["name"]), body=body, fenced=False,
                       what=f"release lease {meta['namespace']}/{meta['name']}")


def expired_for(live: Obj | None, seconds: float = LEASE_SECONDS) -> float:
    """Seconds since it expired by its renewTime, on our clock (< 0: not yet; its holder may still write)."""
    spec = (live or {}).get("spec") or {}
    renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if renewed is None:
        return float("inf")
    return time.time() - renewed - (spec.get("leaseDurationSeconds") or seconds)


def alive(live: Obj | None, seconds: float = LEASE_SECONDS) -> bool:
    return expired_for(live, seconds) < 0


def holder_of(live: Obj) -> str:
    return str((live.get("spec") or {}).get("holderIdentity") or "")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
