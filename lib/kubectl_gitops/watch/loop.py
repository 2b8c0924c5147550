"""`kubectl gitops watch`: Argo CD's reconcile loop on the pipeline's steps.

Each reconcile compares every app of TARGET with the live cache of its own cluster (watch/stream.py:
a LIST then a WATCH per kind per cluster) — Git is read again every --interval or when a webhook says
a repository changed, the work tree at every reconcile — then decides per app (watch/decide.py) and
syncs those it should, one at a time, exactly as `kubectl gitops sync` does (syncing.py: pre-flight
checks, the app's Lease on its cluster, the record, notifications), as an automated sync. An app whose
cluster does not answer is reported and tried again at the next reconcile; the other clusters' apps go
on. A reconcile runs when the interval passes, a watched object of an app changes, a webhook arrives or
a backoff ends.
"""

from __future__ import annotations

import os
import queue
import random
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from kubectl_gitops import pipeline
from kubectl_gitops.cluster import Client
from kubectl_gitops.engine import CompareOptions, Hooks, new_sources
from kubectl_gitops.errors import GitopsError, Halt
from kubectl_gitops.fleet import Fleet
from kubectl_gitops.interrupt import Interrupted
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.notify.loading import ConfigSource
from kubectl_gitops.render import cache
from kubectl_gitops.source import LocalRepo, Sources, normalize_url
from kubectl_gitops.state import AppState, SyncRequest, SyncStatus
from kubectl_gitops.watch import metrics, webhook
from kubectl_gitops.watch.autosync import AutoSync, quiet
from kubectl_gitops.watch.events import EventLog
from kubectl_gitops.watch.share import Share
from kubectl_gitops.watch.stream import Watches

COALESCE = 0.2  # seconds: changes arriving together (one sync's writes) make one reconcile


@dataclass(frozen=True)
class WatchOptions:
    interval: float = 180.0
    jitter: float = 0.0  # up to this much is added to each interval (Argo CD's timeout.reconciliation.jitter)
    timeout: float = 300.0  # one sync's --timeout
    lock_namespace: str = "default"
    webhook_addr: str | None = None
    metrics_addr: str | None = None
    identity: str = ""
    notifications: ConfigSource | None = None
    share_lease: float = 0.0  # --share-apps: the Leases' duration (0: not shared, this loop owns every app)


def poll_delay(interval: float, jitter: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds to the next Git poll: the interval and up to `jitter` more, as Argo CD's
    timeout.reconciliation.jitter, so replicas (and loops started together) do not all read Git at once."""
    return interval + jitter * draw()


M_ARENA_MAX = -8  # glibc's mallopt() parameter


def few_malloc_arenas() -> None:
    """glibc gives threads malloc arenas of their own (up to 8 per core), and an arena keeps the memory
    it once held: every reconcile and sync runs in new threads, which mostly wait on the network; two
    arenas serve them (MALLOC_ARENA_MAX=2) and keep the loop's footprint small."""
    if sys.platform != "linux" or "MALLOC_ARENA_MAX" in os.environ:
        return
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)


def identity() -> str:
    return f"kubectl-gitops-watch@{socket.gethostname()}"


class Loop:
    def __init__(self, fleet: Fleet, compare: CompareOptions, opts: WatchOptions, log: EventLog) -> None:
        self.fleet, self.compare, self.opts, self.log = fleet, compare, opts, log
        self.metrics = metrics.Metrics()
        self.triggers: queue.Queue[str] = queue.Queue()
        self.watches = Watches(self._changed, self._reconnected)
        self.keys: dict[tuple[int, ResourceKey], str] = {}  # (id(Client), object) of every app -> its app
        self.down: dict[str, str] = {}  # cluster that did not answer at the last reconcile -> why
        self.repos: dict[str, set[str]] = {}  # normalized repository URL -> its apps
        self.sources: Sources | None = None
        self.reconciled = False  # a reconcile failing later is logged and retried; the first one is fatal
        req = SyncRequest(timeout=opts.timeout, lock_namespace=opts.lock_namespace,
                          record_namespace=compare.config_namespace, initiated_by=opts.identity or identity(),
                          automated=True)
        self.auto = AutoSync(fleet, req, opts.notifications, self.metrics, log, self.watches.changed_since)
        self.due = self.auto.due
        self.renders = cache.keep_in_memory()  # the trees of one poll are rendered again at every reconcile
        self.share = None if not opts.share_lease else Share(
            fleet.management, opts.lock_namespace, max(1, round(opts.share_lease)),
            lambda: self.triggers.put("apps shared out"), log)

    def _changed(self, client: Client, key: ResourceKey) -> None:
        app = self.keys.get((id(client), key))
        if app is not None:
            self.triggers.put(f"{key.kind} {key.namespace}/{key.name} changed")

    def _reconnected(self, resource: str) -> None:
        self.metrics.reconnects.labels(resource).inc()

    def on_push(self, provider: str, urls: list[str]) -> int:
        apps = {a for u in urls for a in self.repos.get(normalize_url(u), set())}
        self.log("webhook", provider=provider, repository=urls[0] if urls else "", apps=len(apps))
        if apps:
            self.sources = None  # fetch again
            self.triggers.put(f"{provider} push")
        return len(apps)

    def run(self) -> int:
        few_malloc_arenas()
        if self.opts.metrics_addr:
            metrics.serve(self.opts.metrics_addr, self.metrics)
        if self.opts.webhook_addr:
            webhook.serve(self.opts.webhook_addr, self.on_push, self.log)
        self.log("watch started", target=self.compare.target, interval=f"{self.opts.interval:g}s",
                 jitter=f"{self.opts.jitter:g}s", identity=self.auto.req.initiated_by,
                 **({"share_lease": f"{self.opts.share_lease:g}s"} if self.share else {}))
        next_poll = 0.0
        if self.share:
            self.share.start()
        try:
            while True:
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + poll_delay(self.opts.interval, self.opts.jitter)
                    self.sources, why = None, "interval"
                else:
                    why = next_trigger(self.triggers, min([next_poll, *self.due.values()]) - now, self.due)
                    if why == "interval":
                        continue  # the poll is due: the next turn reads Git again, in one reconcile
                self.reconcile(why)
        except Interrupted as e:
            self.log("watch stopped", reason=str(e))
            return 0
        finally:
            self.watches.stop()
            if self.share:
                self.share.stop()  # its apps handed back: the other replicas take them at once

    def reconcile(self, why: str) -> None:
        started = time.monotonic()
        self.fleet.clear_deadline()  # a compare is not bounded by a sync's --timeout
        self.fleet.forget_targets()  # each app's destination as its Application says now
        try:
            if self.sources is None:
                self.sources = new_sources(self.compare)
            # Apps another replica owns are rendered only (for the apps they manage), not compared.
            hooks = Hooks(listers=self.watches, sources=self.sources, wanted=self._mine if self.share else None)
            states, settings = pipeline.compare(self.fleet, self.compare, self._quiet, hooks)
        except Halt:
            raise
        except GitopsError as e:
            self.renders.sweep()
            if not self.reconciled:  # bad input (or no cluster) at the start: one error, its exit code
                raise
            self.sources = None
            self.metrics.reconcile_errors.inc()
            if _from_git(e):
                self.metrics.git_errors.inc()
            self.log("reconcile failed", error=str(e))
            return
        self.reconciled = True
        self.renders.sweep()
        pipeline.assess(states, settings)
        took = time.monotonic() - started
        if self.share:
            self.share.offer(st.app.name for st in states)
        mine = [st for st in states if self._mine(st.app.name)]
        owned = {st.app.name for st in mine}
        self.metrics.observe_reconcile(took, mine, self.watches.lists(), self.fleet.writes)
        self.keys = {(id(self.fleet.client_of(st.app)), rs.key): st.app.name for st in states for rs in st.resources}
        self.repos = repositories(states, self.sources.local if self.sources else None)
        self.down = reachability(self.down, states, self.log)
        self.log("reconciled", trigger=why, apps=len(states), seconds=round(took, 3),
                 out_of_sync=sum(st.sync_status == SyncStatus.OUT_OF_SYNC for st in mine),
                 **({"owned": len(mine)} if self.share else {}))
        for st in states:
            if st.app.name in owned and not st.error:
                self.auto.consider(st, settings, why)
            else:
                self.due.pop(st.app.name, None)  # another replica's (or its cluster is away): no backoff here

    def _mine(self, app: str) -> bool:
        """Whether this replica reconciles the app: always, unless apps are shared out."""
        return self.share is None or self.share.owns(app)

    def _quiet(self, msg: str) -> None:
        quiet(self.log, msg)


def next_trigger(triggers: queue.Queue[str], seconds: float, due: dict[str, float]) -> str:
    """Why the next reconcile runs: the first trigger within `seconds` (those arriving in the next
    COALESCE seconds with it make the same reconcile), else a backoff that ended or the interval."""
    try:
        why = triggers.get(timeout=max(0.0, seconds))
    except queue.Empty:
        return "backoff" if due and min(due.values()) <= time.monotonic() else "interval"
    deadline = time.monotonic() + COALESCE
    while (left := deadline - time.monotonic()) > 0:
        try:
            triggers.get(timeout=left)
        except queue.Empty:
            break
    return why


def repositories(states: list[AppState], local: LocalRepo | None) -> dict[str, set[str]]:
    """Normalized repository URL -> the apps it feeds: what a webhook's push names. An app of the work
    tree is fed by the work tree's remotes too."""
    repos: dict[str, set[str]] = {}
    for st in states:
        urls = [st.app.source.repo_url] if st.app.source.repo_url else []
        if local is not None and (not urls or local.matches(urls[0])):
            urls += local.remote_urls()
        for u in urls:
            repos.setdefault(normalize_url(u), set()).add(st.app.name)
    return repos


def reachability(down_before: dict[str, str], states: list[AppState], log: EventLog) -> dict[str, str]:
    """The clusters that did not answer -> why. A cluster that stops (or starts again) answering is one
    event, not one per reconcile."""
    down: dict[str, str] = {}
    for st in states:
        if st.error:
            down.setdefault(st.cluster, st.error)
    for cluster, error in down.items():
        if down_before.get(cluster) != error:
            apps = ",".join(st.app.name for st in states if st.cluster == cluster and st.error)
            log("cluster unreachable", cluster=cluster, apps=apps, error=error)
    for cluster in down_before.keys() - down.keys():
        log("cluster reachable", cluster=cluster)
    return down


def _from_git(e: GitopsError) -> bool:
    """Raised while reading Git (source.py), as opposed to rendering or the cluster."""
    return any(f.f_globals.get("__name__") == "kubectl_gitops.source"
               for f, _ in traceback.walk_tb(e.__traceback__))
