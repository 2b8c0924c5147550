"""--share-apps: the replicas of one watch share its apps out through Leases. Kubernetes is the only
coordinator; there is no consensus of our own.

Each replica holds a membership Lease (kubectl-gitops-watch-member-…) in --lock-namespace of the
management cluster, renewed while it runs. An app is reconciled (decided, synced, reported) only by the
replica that holds its ownership Lease, kubectl-gitops-watch-app-APP. That Lease is not the sync Lease
every sync takes (kubectl-gitops-sync-APP, on the app's cluster), so a user's manual sync never waits
for a watcher. A replica holds at most its fair share, ceil(apps / live replicas), counting the
membership Leases renewed within their duration: it claims apps whose ownership Lease is missing or
expired up to that share and hands back those above it. A replica that joins gets its share; the
apps of one that dies are taken over once their Leases expire; one that stops hands its apps back.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterable

from kubectl_gitops.cluster import Client, resource_or_error
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.lease import RENEW_FRACTION, AppLock, LeaseHeld, alive, delete, expired_for, holder_of
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.watch.events import EventLog
from kubectl_gitops.watch.stream import KindWatch

MEMBER, OWNER = "kubectl-gitops-watch-member-", "kubectl-gitops-watch-app-"
FORGET = 10  # a Lease of ours expired this many durations ago is deleted (its replica or its app is gone)


def fair_share(apps: int, replicas: int) -> int:
    return -(-apps // max(1, replicas))


def rebalance(apps: Iterable[str], mine: set[str], free: set[str], replicas: int,
              me: str) -> tuple[list[str], list[str]]:
    """(apps to claim, apps to hand back), as a pure function of what the Leases say. `free`: apps
    whose ownership Lease is missing or expired. Each replica ranks the apps its own way (a hash with
    its identity), so replicas starting together mostly claim different ones."""
    wanted = set(apps)
    share = fair_share(len(wanted), replicas)

    def rank(app: str) -> str:
        return hashlib.sha256(f"{me}/{app}".encode()).hexdigest()

    keep = sorted(mine & wanted, key=rank)
    give_back = sorted(mine - wanted) + keep[share:]
    claim = sorted((free & wanted) - mine, key=rank)[:max(0, share - len(keep))]
    return claim, give_back


class Share:
    """This replica's Leases: its membership, and the ownership of the apps it reconciles."""

    def __init__(self, client: Client, namespace: str, seconds: int, on_gain: Callable[[], None],
                 log: EventLog) -> None:
        self.client, self.namespace, self.seconds, self.on_gain, self.log = client, namespace, seconds, on_gain, log
        self.member = AppLock(client, "", namespace, name=MEMBER + secrets.token_hex(4), seconds=seconds, fence=False)
        self.locks: dict[str, AppLock] = {}  # the apps this replica owns
        self.apps: set[str] = set()  # every app of the last reconcile
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        res = resource_or_error(client, ResourceKey("coordination.k8s.io", "Lease", namespace, MEMBER), "--share-apps")
        # The Leases of the namespace, LISTed once then watched: who is alive and who owns what, without
        # polling. A replica coming or going is acted on at once; the rest (a renewal, a sync) waits for
        # the next look, a quarter of the Leases' duration later.
        self.res = res
        self.leases = KindWatch(client, res, namespace, self._changed, lambda _res: None)

    def _changed(self, key: ResourceKey) -> None:
        if key.name.startswith(MEMBER):
            self._wake.set()

    def start(self) -> None:
        self.leases.start()
        self.member.acquire()
        threading.Thread(target=self._run, name="share", daemon=True).start()

    def owns(self, app: str) -> bool:
        with self._lock:
            lock = self.locks.get(app)
        return lock is not None and lock.held

    def offer(self, apps: Iterable[str]) -> None:
        """The apps of the reconcile just done: shared out at once."""
        with self._lock:
            self.apps = set(apps)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.seconds * RENEW_FRACTION)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._rebalance()
            except GitopsError as e:  # the API server away: what we hold expires by itself
                self.log("share failed", error=str(e))

    def _rebalance(self) -> None:
        leases = {(o.get("metadata") or {}).get("name", ""): o for o in self.leases.snapshot()}
        replicas = {n for n, o in leases.items() if n.startswith(MEMBER) and alive(o, self.seconds)}
        for name, o in leases.items():  # restarts leave membership Leases behind; removed apps, theirs
            if name.startswith((MEMBER, OWNER)) and expired_for(o, self.seconds) > FORGET * self.seconds:
                delete(self.client, self.res, o)
        with self._lock:
            lost = [a for a, lock in self.locks.items() if not lock.held]
            for app in lost:
                self.locks.pop(app).release()
            mine, apps = set(self.locks), set(self.apps)
        for app in lost:
            self.log("app lost", app=app)
        me = self.member.holder
        free = {a for a in apps if not alive(found := leases.get(OWNER + a), self.seconds) or
                holder_of(found or {}) == me}
        claim, give_back = rebalance(apps, mine, free, len(replicas | {self.member.name}), me)
        for app in give_back:
            with self._lock:
                lock = self.locks.pop(app)
            lock.release()
            self.log("app handed back", app=app, replicas=len(replicas))
        gained = []
        for app in claim:
            lock = AppLock(self.client, app, self.namespace, name=OWNER + app, seconds=self.seconds, fence=False)
            lock.holder = me  # one identity for all of this replica's Leases
            try:
                lock.acquire()
            except LeaseHeld:
                continue  # another replica was first
            with self._lock:
                if self._stop.is_set():  # stopping meanwhile: stop() has handed back all it knew of
                    lock.release()
                    return
                self.locks[app] = lock
            gained.append(app)
        if gained:
            self.log("apps owned", apps=",".join(sorted(gained)), owned=len(mine) + len(gained),
                     replicas=len(replicas | {self.member.name}))
            self.on_gain()

    def stop(self) -> None:
        """Hand every app back (the other replicas take them at once) and leave."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            held, self.locks = list(self.locks.values()), {}
        for lock in [*held, self.member]:
            lock.release()
        self.leases.stop()
