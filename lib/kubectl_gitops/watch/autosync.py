"""Per app, after each reconcile: decide (decide.py) and run the automated syncs, each exactly as
`kubectl gitops sync` runs one (syncing.py), remembering what was synced."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import orjson

from kubectl_gitops import pipeline, policy, syncing
from kubectl_gitops.cluster import Client
from kubectl_gitops.errors import GitopsError, Halt
from kubectl_gitops.fleet import Fleet
from kubectl_gitops.interrupt import Interrupted
from kubectl_gitops.lease import LeaseHeld
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.notify.loading import ConfigSource
from kubectl_gitops.record_store import read_record
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import AppState, SyncRequest
from kubectl_gitops.watch.decide import Action, Decision, Memory, decide, remember
from kubectl_gitops.watch.events import EventLog
from kubectl_gitops.watch.metrics import Metrics

HELD_RETRY = 5.0  # seconds before trying again an app whose Lease another sync holds


def target_of(state: AppState) -> str:
    """What one automated sync is for: the commit and the render (a work tree changes without a commit)."""
    desired = sorted(orjson.dumps(rs.desired, option=orjson.OPT_SORT_KEYS) for rs in state.resources
                      if rs.desired is not None)
    return f"{state.revision or 'worktree'}:{hashlib.sha256(b''.join(desired)).hexdigest()[:16]}"


def quiet(log: EventLog, msg: str) -> None:
    """Compare's progress lines are noise every few seconds; its warnings are events."""
    if msg.startswith(("warning", "error")):
        log(msg)


class AutoSync:
    def __init__(self, fleet: Fleet, req: SyncRequest, notifications: ConfigSource | None, metrics: Metrics,
                 log: EventLog, changed_since: Callable[[Client, list[ResourceKey], float], bool]) -> None:
        self.fleet, self.req, self.notifications = fleet, req, notifications
        self.metrics, self.log, self.changed_since = metrics, log, changed_since
        self.memory: dict[str, Memory] = {}
        self.due: dict[str, float] = {}  # app -> when a backoff ends (time.monotonic())
        # app -> the last reason and revision logged: a steady state is logged once per revision
        self.said: dict[str, tuple[str, str | None]] = {}

    def consider(self, st: AppState, settings: Settings, why: str, may_sync: bool = True) -> None:
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
                   drift_seen=self.changed_since(self.fleet.client_of(st.app), drifted, mem.finished))
        self.due.pop(name, None)
        if d.action == Action.WAIT or (d.action == Action.SYNC and not may_sync):
            self.due[name] = now + d.after
        if d.action != Action.SYNC or not may_sync:
            if (d.reason, st.revision) != self.said.get(name):
                self.said[name] = (d.reason, st.revision)
                self.log(d.reason or f"{st.sync_status}", app=name, revision=st.revision, health=st.health)
            return
        self.said.pop(name, None)
        self._sync(st, settings, target, mem, d, why)

    def _adopt(self, st: AppState, target: str, mem: Memory) -> None:
        """The app record says who last synced this revision (another replica, or this loop before a
        restart): that sync counts as ours, so drift is healed only with selfHeal and a failure not retried."""
        try:
            found = read_record(self.fleet.client_of(st.app), self.req.record_namespace, st.app.name)
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
        self.fleet.set_deadline(req.timeout)
        try:
            notify = syncing.notifier(self.notifications or ConfigSource(namespace=req.record_namespace),
                                      self.fleet, req, self._quiet)
            plans = syncing.check(plans, self.fleet, req, settings, notify)
            if not plans:  # its cluster stopped answering: not an attempt, tried again later
                self._defer(name, "sync deferred", st.error)
                return
            result = syncing.execute(plans, [st], settings, self.fleet, req, notify,
                                     lambda m: self.log(m, app=name))
        except LeaseHeld as e:  # another sync (a replica, a user) has it: not an attempt of ours
            self._defer(name, "sync deferred", str(e).splitlines()[0])
            return
        except Halt:
            raise
        except GitopsError as e:
            remember(mem, target, False, time.monotonic(), d)
            self.metrics.syncs.labels(name, "Error").inc()
            self.log("sync refused", app=name, revision=st.revision, error=str(e))
            self.consider(st, settings, why, may_sync=False)  # say what happens next: a retry, or none
            return
        finally:
            self.fleet.clear_deadline()
        outcome = result.apps[0] if result.apps else None
        if outcome is not None and isinstance(outcome.stopped, Interrupted):
            raise outcome.stopped  # the Lease is released: the loop ends
        if outcome is not None and outcome.stopped:  # the lease was lost: another sync has the app now
            self._defer(name, "sync stopped", outcome.stopped.message)
            return
        if outcome is not None and outcome.unreachable:  # the cluster went away mid-sync: not its result
            self._defer(name, "sync stopped", outcome.message)
            return
        ok = result.ok
        remember(mem, target, ok, time.monotonic(), d)
        phase = str(outcome.phase) if outcome else "Succeeded"
        self.metrics.syncs.labels(name, phase).inc()
        self.metrics.sync_seconds.labels(name).observe(time.monotonic() - started)
        self.log("synced" if ok else "sync failed", app=name, revision=st.revision, phase=phase,
                 message=outcome.message if outcome else "", health=outcome.health if outcome else None)
        if not ok:
            self.consider(st, settings, why, may_sync=False)

    def _defer(self, name: str, event: str, reason: str) -> None:
        self.due[name] = time.monotonic() + HELD_RETRY
        self.log(event, app=name, reason=reason)

    def _quiet(self, msg: str) -> None:
        quiet(self.log, msg)
