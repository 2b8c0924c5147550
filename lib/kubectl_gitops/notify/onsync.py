"""Notifications after `kubectl gitops sync`: each synced app's Application document is built from
its sync result, the subscribed triggers run against it, and the fired keys (with the health and
when it last changed, which on-deployed compares with the sync's end) are kept per app in the
record store. Settings are read before the first write, so a broken ConfigMap stops the sync."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from kubectl_gitops.appdoc import AppFacts, HistoryEntry, Operation, build_application, images_of
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.health import worst
from kubectl_gitops.masking import strip_repo_credentials
from kubectl_gitops.model import ARGO_GROUP, Obj, key_of
from kubectl_gitops.notify.config import NotifyConfig
from kubectl_gitops.notify.loading import get_optional
from kubectl_gitops.notify.notifier import notify
from kubectl_gitops.notify.record import NotifyRecord, RecordStore
from kubectl_gitops.notify.templates import Templates
from kubectl_gitops.record import resource_result
from kubectl_gitops.state import AppState, AppSyncResult, OperationPhase, TaskResult

if TYPE_CHECKING:
    from kubectl_gitops.cluster import Client

Log = Callable[[str], None]

def _iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


def _spec(manifest: Obj, state: AppState) -> Obj:
    """The Application's spec as templates see it: repoURLs without credentials (a copy)."""
    spec = orjson.loads(orjson.dumps(manifest.get("spec") or {
        "source": {"repoURL": state.app.source.repo_url, "path": state.app.source.path}}))
    strip_repo_credentials(spec)
    return dict(spec)


def revision_of(result: AppSyncResult, state: AppState) -> str:
    """The synced revision; a work tree (no git tree id) is named by a digest of what was applied, so
    oncePer keys change when its content does."""
    if result.revision:
        return result.revision
    desired = sorted((rs.desired for rs in state.resources if rs.desired), key=lambda o: str(key_of(o)))
    return "worktree-" + hashlib.sha1(orjson.dumps(desired, option=orjson.OPT_SORT_KEYS),
                                       usedforsecurity=False).hexdigest()[:12]


def app_health(result: AppSyncResult, state: AppState) -> str:
    """The app's health after the sync: as the sync last saw its objects, else as compare saw them
    (a sync refused before writing)."""
    if result.health is not None:
        return str(result.health)
    return str(worst(rs.health.status for rs in state.resources if rs.health))


def facts(result: AppSyncResult, state: AppState, previous: NotifyRecord) -> tuple[AppFacts, NotifyRecord]:
    """The app as Argo CD would show it after this sync, and the record with its health history.

    health.lastTransitionTime is the end of the last sync that changed the app's health or wrote to
    it: Argo CD sees a write roll out (Progressing, then Healthy) even when this sync, waiting or
    not, saw only the end. A sync that writes nothing keeps the earlier time, so on-deployed (healthy
    since the sync finished) fires once per revision, not once per run.
    """
    manifest: Obj = state.app.manifest or {}
    meta = manifest.get("metadata") or {}
    health = app_health(result, state)
    finished = _iso(result.finished_at)
    wrote = any(t.result in (TaskResult.CREATED, TaskResult.CONFIGURED) for t in result.tasks)
    kept = previous.health == health and previous.health_since and not wrote
    since = previous.health_since if kept else finished
    synced = result.ok and not any(t.result == TaskResult.FAILED for t in result.tasks)
    revision = revision_of(result, state)
    op = Operation(phase=result.phase.value, message=result.message, started_at=_iso(result.started_at),
                   finished_at=finished, revision=revision, resources=tuple(resource_result(t) for t in result.tasks))
    desired = [rs.desired for rs in state.resources if rs.desired]
    f = AppFacts(
        name=state.app.name, namespace=str(meta.get("namespace") or "argocd"), project=state.app.project,
        spec=_spec(manifest, state),
        labels=dict(meta.get("labels") or {}), annotations=dict(meta.get("annotations") or {}),
        created_at=str(meta.get("creationTimestamp") or ""),
        sync_status="Synced" if synced else "OutOfSync", sync_revision=revision, health_status=health,
        health_since=since, operation=op, images=images_of(desired),
        history=(HistoryEntry(1, revision, finished, _iso(result.started_at)),) if result.ok else ())
    return f, NotifyRecord(previous.fired, health, since, previous.deliveries)


@dataclass(frozen=True)
class SyncNotifier:
    """Settings read (and templates parsed) before the sync; `after` sends for its result."""

    cfg: NotifyConfig
    client: Client
    store: RecordStore
    namespace: str  # the config namespace, where AppProjects are
    log: Log

    @classmethod
    def prepare(cls, cfg: NotifyConfig, client: Client, store: RecordStore, namespace: str, log: Log) -> SyncNotifier:
        """`store`: where each app's notification state is kept; `namespace`: the config namespace."""
        Templates(cfg)  # a template that does not parse is bad input, before any write
        return cls(cfg, client, store, namespace, log)

    def after(self, results: list[AppSyncResult], states: dict[str, AppState]) -> None:
        """Send for each app's result; nothing here fails the sync (faults are warnings)."""
        for result in results:
            state = states.get(result.app)
            if state is None:
                continue
            try:
                self._after_one(result, state)
            except GitopsError as e:
                self.log(f"warning: app {result.app}: notifications: {e}")

    def refused(self, states: list[AppState], message: str) -> None:
        """The sync stopped before its first write: each app's operation ends in phase Error."""
        now = datetime.now(UTC)
        self.after([AppSyncResult(app=st.app.name, source=st.source_label, revision=st.revision, started_at=now,
                                  finished_at=now, phase=OperationPhase.ERROR, message=message) for st in states],
                   {st.app.name: st for st in states})

    def _after_one(self, result: AppSyncResult, state: AppState) -> None:
        previous = self.store.load(result.app)
        f, record = facts(result, state, previous)
        app = build_application(f)
        outcome = notify(self.cfg, app, self._project(f.project), record.fired, self.log)
        deliveries = tuple({"trigger": d.trigger, "destination": str(d.destination), "ok": d.ok,
                            "detail": d.detail} for d in outcome.deliveries) or previous.deliveries
        new = NotifyRecord(outcome.fired, record.health, record.health_since, deliveries)
        if new != previous:
            self.store.save(result.app, new)

    def _project(self, name: str) -> dict[str, Any] | None:
        """The AppProject (for its subscription annotations), when the cluster has Argo CD's CRD."""
        return get_optional(self.client, ARGO_GROUP, "AppProject", self.namespace, name)
