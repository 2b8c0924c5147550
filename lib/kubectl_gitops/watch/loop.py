"""`kubectl gitops watch`: Argo CD's reconcile loop on the pipeline's steps.

Each reconcile compares every app of TARGET with the live cache (watch/stream.py) — Git is read again
every --interval or when a webhook says a repository changed, the work tree at every reconcile — then
decides per app (watch/decide.py) and syncs those it should, one at a time, exactly as `kubectl gitops
sync` does (syncing.py: pre-flight checks, the app's Lease, the record, notifications), as an automated
sync. A reconcile runs when the interval passes, a watched object of an app changes, a webhook arrives
or a backoff ends.
"""

from __future__ import annotations

import hashlib
import queue
import socket
import time
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import orjson

from kubectl_gitops import pipeline, policy, syncing
from kubectl_gitops.cluster import Client
from kubectl_gitops.engine import CompareOptions, new_sources
from kubectl_gitops.errors import GitopsError, Halt
from kubectl_gitops.interrupt import Interrupted
from kubectl_gitops.lease import LeaseHeld
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.notify.loading import ConfigSource
from kubectl_gitops.record_store import read_record
from kubectl_gitops.settings import Settings
from kubectl_gitops.source import Sources, normalize_url
from kubectl_gitops.state import AppState, SyncRequest, SyncStatus
from kubectl_gitops.watch import metrics, webhook
from kubectl_gitops.watch.decide import Action, Decision, Memory, decide, remember
from kubectl_gitops.watch.events import EventLog
from kubectl_gitops.watch.stream import WatchSet

COALESCE = 0.2  # seconds: changes arriving together (one sync's writes) make one reconcile
HELD_RETRY = 5.0  # seconds before trying again an app whose Lease another sync holds


@dataclass(frozen=True)
class WatchOptions:
    interval: float = 180.0
    timeout: float = 300.0  # one sync's --timeout
    lock_namespace: str = "default"
    webhook_addr: str | None = None
    metrics_addr: str | None = None
    identity: str = ""
    notifications: ConfigSource | None = None


def identity() -> str:
    return f"kubectl-gitops-watch@{socket.gethostname()}"


def target_of(state: AppState) -> str:
    """What one automated sync is for: the commit and the render (a work tree changes without a commit)."""
    desired = sorted(orjson.dumps(rs.desired, option=orjson.OPT_SORT_KEYS) for rs in state.resources
                      if rs.desired is not None)
    return f"{state.revision or 'worktree'}:{hashlib.sha256(b''.join(desired)).hexdigest()[:16]}"


class Loop:
    def __init__(self, client: Client, compare: CompareOptions, opts: WatchOptions, log: EventLog) -> None:
        self.client, self.compare, self.opts, self.log = client, compare, opts, log
        self.metrics = metrics.Metrics()
        self.triggers: queue.Queue[str] = queue.Queue()
        self.watches = WatchSet(client, self._changed, self._reconnected)
        self.memory: dict[str, Memory] = {}
        self.keys: dict[ResourceKey, str] = {}  # every object of every app -> its app
        self.repos: dict[str, set[str]] = {}  # normalized repository URL -> its apps
        self.due: dict[str, float] = {}  # app -> when a backoff ends (time.monotonic())
        self.said: dict[str, str] = {}  # app -> the last reason logged, so a steady state is logged once
        self.sources: Sources | None = None
        self.req = SyncRequest(timeout=opts.timeout, lock_namespace=opts.lock_namespace,
                               record_namespace=compare.config_namespace,
                               initiated_by=opts.identity or identity(), automated=True)

    # -- triggers (any thread) ---------------------------------------------------------------------

    def _changed(self, key: ResourceKey) -> None:
        app = self.keys.get(key)
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

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> int:
        if self.opts.metrics_addr:
            metrics.serve(self.opts.metrics_addr, self.metrics)
        if self.opts.webhook_addr:
            webhook.serve(self.opts.webhook_addr, self.on_push, self.log)
        self.log("watch started", target=self.compare.target, interval=f"{self.opts.interval:g}s",
                 identity=self.req.initiated_by)
        next_poll = 0.0
        try:
            while True:
                now = time.monotonic()
                if now >= next_poll:
                    self.sources, next_poll, why = None, now + self.opts.interval, "interval"
                else:
                    why = self._wait(min([next_poll, *self.due.values()]) - now)
                self.reconcile(why)
        except Interrupted as e:
            self.log("watch stopped", reason=str(e))
            self.watches.stop()
            return 0

    def _wait(self, seconds: float) -> str:
        try:
            why = self.triggers.get(timeout=max(0.0, seconds))
        except queue.Empty:
            return "backoff" if self.due and min(self.due.values()) <= time.monotonic() else "interval"
        deadline = time.monotonic() + COALESCE
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.triggers.get(timeout=left)
            except queue.Empty:
                break
        return why

    def reconcile(self, why: str) -> None:
        started = time.monotonic()
        self.client.deadline = None  # a compare is not bounded by a sync's --timeout
        try:
            if self.sources is None:
                self.sources = new_sources(self.compare)
            states, settings = pipeline.compare(self.client, self.compare, self._quiet, self.watches, self.sources)
        except Halt:
            raise
        except GitopsError as e:
            self.sources = None
            self.metrics.reconcile_errors.inc()
            if _from_git(e):
                self.metrics.git_errors.inc()
            self.log("reconcile failed", error=str(e))
            return
        pipeline.assess(states, settings)
        took = time.monotonic() - started
        self.metrics.reconcile_seconds.observe(took)
        self.metrics.observe_apps(states)
        self._index(states)
        self.log("reconciled", trigger=why, apps=len(states), seconds=round(took, 3),
                 out_of_sync=sum(st.sync_status == SyncStatus.OUT_OF_SYNC for st in states))
        for st in states:
            self._consider(st, settings, why)

    def _index(self, states: list[AppState]) -> None:
        self.keys = {rs.key: st.app.name for st in states for rs in st.resources}
        repos: dict[str, set[str]] = {}
        for st in states:
            urls = [st.app.source.repo_url] if st.app.source.repo_url else []
            local = self.sources.local if self.sources else None
            if local is not None and (not urls or local.matches(urls[0])):
                urls += local.remote_urls()
            for u in urls:
                repos.setdefault(normalize_url(u), set()).add(st.app.name)
        self.repos = repos

    def _consider(self, st: AppState, settings: Settings, why: str, may_sync: bool = True) -> None:
        name = st.app.name
        mem = self.memory.setdefault(name, Memory())
        target = target_of(st)
        if target != mem.target and st.revision:
            self._adopt(st, target, mem)
        now = time.monotonic()
        window = "" if st.project is None else "; ".join(policy.window_violations(st, at=datetime.now(UTC),
                                                                                   manual=False))
        drifted = [rs.key for rs in st.resources if rs.out_of_sync]
        d = decide(st, target, mem, now=now, window=window,
                   drift_seen=self.watches.changed_since(drifted, mem.finished))
        self.due.pop(name, None)
        if d.action == Action.WAIT or (d.action == Action.SYNC and not may_sync):
            self.due[name] = now + d.after
        if d.action != Action.SYNC or not may_sync:
            if d.reason != self.said.get(name):
                self.said[name] = d.reason
                self.log(d.reason or f"{st.sync_status}", app=name, revision=st.revision, health=st.health)
            return
        self.said.pop(name, None)
        self._sync(st, settings, target, mem, d, why)

    def _adopt(self, st: AppState, target: str, mem: Memory) -> None:
        """The app record says who last synced this revision (another replica, or this loop before a
        restart): that sync counts as ours, so drift is healed only with selfHeal and a failure not retried."""
        try:
            found = read_record(self.client, self.req.record_namespace, st.app.name)
        except GitopsError as e:
            self.log("warning: app record not read", app=st.app.name, error=str(e))
            return
        op = found[0].operation if found else None
        if op is None or op.revision != st.revision or not op.finished_at:
            return
        try:
            age = (datetime.now(UTC) - datetime.fromisoformat(op.finished_at.replace("Z", "+00:00"))).total_seconds()
        except ValueError:
            return
        ok = op.phase == "Succeeded"
        remember(mem, target, ok, time.monotonic() - max(0.0, age), Decision(Action.SYNC))

    def _sync(self, st: AppState, settings: Settings, target: str, mem: Memory,
              d: Decision, why: str) -> None:
        name = st.app.name
        changed = [f"{rs.key.kind}/{rs.key.name}" for rs in st.resources if rs.out_of_sync]
        self.log("sync", app=name, revision=st.revision, reason=d.reason, trigger=why,
                 changed=",".join(changed[:10]) + (f" (+{len(changed) - 10})" if len(changed) > 10 else ""))
        req = replace(self.req, prune=st.app.auto_prune)
        started = time.monotonic()
        plans = pipeline.plan_all([st], req)
        self.client.set_deadline(req.timeout)
        try:
            notify = syncing.notifier(self.opts.notifications or ConfigSource(namespace=req.record_namespace),
                                      self.client, req, self._quiet)
            syncing.check(plans, self.client, req, settings, notify)
            result = syncing.execute(plans, [st], settings, self.client, req, notify,
                                     lambda m: self.log(m, app=name))
        except LeaseHeld as e:  # another sync (a replica, a user) has it: not an attempt of ours
            self.due[name] = time.monotonic() + HELD_RETRY
            self.log("sync deferred", app=name, reason=str(e).splitlines()[0])
            return
        except Halt:
            raise
        except GitopsError as e:
            remember(mem, target, False, time.monotonic(), d)
            self.metrics.syncs.labels(name, "Error").inc()
            self.log("sync refused", app=name, revision=st.revision, error=str(e))
            self._consider(st, settings, why, may_sync=False)  # say what happens next: a retry, or none
            return
        finally:
            self.client.deadline = None
        outcome = result.apps[0] if result.apps else None
        if outcome is not None and isinstance(outcome.stopped, Interrupted):
            raise outcome.stopped  # the Lease is released: the loop ends
        if outcome is not None and outcome.stopped:  # the lease was lost: another sync has the app now
            self.due[name] = time.monotonic() + HELD_RETRY
            self.log("sync stopped", app=name, reason=outcome.stopped.message)
            return
        ok = result.ok
        remember(mem, target, ok, time.monotonic(), d)
        phase = str(outcome.phase) if outcome else "Succeeded"
        self.metrics.syncs.labels(name, phase).inc()
        self.metrics.sync_seconds.labels(name).observe(time.monotonic() - started)
        self.log("synced" if ok else "sync failed", app=name, revision=st.revision, phase=phase,
                 message=outcome.message if outcome else "", health=outcome.health if outcome else None)
        if not ok:
            self._consider(st, settings, why, may_sync=False)

    def _quiet(self, msg: str) -> None:
        """Compare's progress lines are noise every few seconds; its warnings are events."""
        if msg.startswith(("warning", "error")):
            self.log(msg)


def _from_git(e: GitopsError) -> bool:
    """Raised while reading Git (source.py), as opposed to rendering or the cluster."""
    return any(f.f_globals.get("__name__") == "kubectl_gitops.source"
               for f, _ in traceback.walk_tb(e.__traceback__))
