"""The app record: what Argo CD keeps in an Application's status, kept by us in one small ConfigMap per
app on the app's destination cluster. Pure: building, updating, (de)serialising and rendering records;
reading and writing them is `record_store`'s job.

Why a ConfigMap: every cluster has the kind, `view` can read it (so a read-only user can `list` and
`history`), it carries a resourceVersion for optimistic concurrency, and its 1 MiB limit is far above
what a bounded record needs. The record is one JSON document under one key, so a reader never sees a
half-updated record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import orjson

from kubectl_gitops import appdoc
from kubectl_gitops.appdoc import ResourceResult
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj
from kubectl_gitops.repourl import RepoURL
from kubectl_gitops.state import AppState, AppSyncResult, OperationPhase, SyncTask, TaskResult

RECORD_KEY = "record.json"
RECORD_LABEL = "kubectl-gitops.io/record"
APP_LABEL = "kubectl-gitops.io/app"
MANAGED_BY = "app.kubernetes.io/managed-by"
NAME_PREFIX = "kubectl-gitops-app-"
SCHEMA_VERSION = 1
HISTORY_LIMIT = 10  # Argo CD's default revisionHistoryLimit
MESSAGE_LIMIT = 1024  # characters of an operation or object message kept
RESOURCE_LIMIT = 200  # per-object results kept in the last operation; the summary counts them all
NOTIFIED_LIMIT = 100  # fired notification keys kept, as notifications-engine keeps at most 100

SUCCEEDED = str(OperationPhase.SUCCEEDED)
# Our task results as Argo CD's ResourceResult (status, hookPhase).
_RESULT_CODES: dict[TaskResult, tuple[str, str]] = {
    TaskResult.CREATED: ("Synced", ""), TaskResult.CONFIGURED: ("Synced", ""),
    TaskResult.UNCHANGED: ("Synced", ""), TaskResult.PRUNED: ("Pruned", ""),
    TaskResult.PRUNE_SKIPPED: ("PruneSkipped", ""), TaskResult.FAILED: ("SyncFailed", ""),
    TaskResult.HOOK_CREATED: ("Synced", "Running"), TaskResult.HOOK_RUNNING: ("Synced", "Running"),
    TaskResult.HOOK_SUCCEEDED: ("Synced", "Succeeded"), TaskResult.HOOK_FAILED: ("SyncFailed", "Failed"),
}


@dataclass(frozen=True)
class SourceRef:
    repo_url: str = ""
    path: str = ""
    target_revision: str = ""
    chart: str = ""

    def document(self) -> Obj:
        doc: Obj = {"repoURL": self.repo_url, "path": self.path, "targetRevision": self.target_revision}
        if self.chart:
            doc["chart"] = self.chart
        return doc


@dataclass(frozen=True)
class Operation:
    phase: str
    message: str
    started_at: str
    finished_at: str
    initiated_by: str
    automated: bool = False
    revision: str = ""
    source: SourceRef = field(default_factory=SourceRef)
    summary: tuple[tuple[str, int], ...] = ()  # (result, count) over every object of the operation
    resources: tuple[ResourceResult, ...] = ()  # at most RESOURCE_LIMIT of them
    rollback_of: int | None = None  # the history id a rollback returned to


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    revision: str
    source: SourceRef
    deployed_at: str
    deploy_started_at: str
    initiated_by: str
    automated: bool = False
    rollback: bool = False


@dataclass(frozen=True)
class AppRecord:
    app: str
    project: str = "default"
    dest_server: str = ""
    dest_namespace: str = ""
    source: SourceRef = field(default_factory=SourceRef)
    automated: bool = False
    sync_status: str = "Unknown"
    sync_revision: str = ""
    health_status: str = "Unknown"
    health_message: str = ""
    reconciled_at: str = ""
    images: tuple[str, ...] = ()
    operation: Operation | None = None
    history: tuple[HistoryEntry, ...] = ()
    # Notifications: the fired state keys (key -> unix time, as Argo CD's notified annotation), the health
    # they last saw and since when (status.health.lastTransitionTime), and the last deliveries.
    notified: tuple[tuple[str, int], ...] = ()
    health_since: str = ""
    deliveries: tuple[Obj, ...] = ()


def configmap_name(app: str) -> str:
    return (NAME_PREFIX + app)[:253]


def truncate(message: str, limit: int = MESSAGE_LIMIT) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def record_operation(prev: AppRecord | None, update: AppRecord, operation: Operation) -> AppRecord:
    """The record after an operation: `update` carries the app's current facts (source, status,
    health); the history gains an entry when the operation succeeded, keeping the last HISTORY_LIMIT."""
    op = replace(operation, message=truncate(operation.message),
                 resources=tuple(replace(r, message=truncate(r.message, 256))
                                 for r in operation.resources[:RESOURCE_LIMIT]))
    history = prev.history if prev else ()
    if op.phase == SUCCEEDED:
        next_id = max((h.id for h in history), default=-1) + 1
        entry = HistoryEntry(id=next_id, revision=op.revision, source=op.source, deployed_at=op.finished_at,
                             deploy_started_at=op.started_at, initiated_by=op.initiated_by,
                             automated=op.automated, rollback=op.rollback_of is not None)
        history = (*history, entry)[-HISTORY_LIMIT:]
    if prev is not None:  # what notifications keep is theirs to change
        update = replace(update, notified=prev.notified, health_since=prev.health_since,
                         deliveries=prev.deliveries)
    return replace(update, operation=op, history=history)


def history_entry(record: AppRecord, entry_id: int | None) -> HistoryEntry:
    """Entry `entry_id`, or by default the one before the current deployment (what `rollback` targets)."""
    if entry_id is None:
        if len(record.history) < 2:
            raise GitopsError(f"app {record.app}: no earlier deployment to roll back to "
                              f"({len(record.history)} in its history)",
                              hint="`kubectl gitops history` lists them")
        return record.history[-2]
    for h in record.history:
        if h.id == entry_id:
            return h
    ids = ", ".join(str(h.id) for h in record.history) or "none"
    raise GitopsError(f"app {record.app}: no history entry {entry_id} (ids: {ids})")


def from_sync(prev: AppRecord | None, state: AppState, outcome: AppSyncResult, *, initiated_by: str,
              dest_server: str = "", automated: bool = False, rollback_of: int | None = None) -> AppRecord:
    """The record after `outcome`, one app's sync of `state` (what compare found before it)."""
    app = state.app
    source = SourceRef(repo_url=RepoURL.parse(app.source.repo_url).shown, path=app.source.path,
                       target_revision=app.source.target_revision)
    revision = outcome.revision or ""
    tasks = [t for t in outcome.tasks if t.result is not None and t.result != TaskResult.SKIPPED]
    summary: dict[str, int] = {}
    for t in tasks:
        summary[str(t.result)] = summary.get(str(t.result), 0) + 1
    ok = outcome.phase == OperationPhase.SUCCEEDED
    in_sync = ok and TaskResult.PRUNE_SKIPPED not in summary
    health = outcome.health or state.health  # what the sync last saw of its objects
    images = appdoc.images_of([rs.desired for rs in state.resources if rs.desired is not None])
    operation = Operation(
        phase=str(outcome.phase), message=outcome.message, started_at=_time(outcome.started_at),
        finished_at=_time(outcome.finished_at or outcome.started_at), initiated_by=initiated_by,
        automated=automated, revision=revision, source=source, summary=tuple(sorted(summary.items())),
        resources=tuple(resource_result(t) for t in tasks), rollback_of=rollback_of)
    update = AppRecord(
        app=app.name, project=app.project, dest_server=dest_server, dest_namespace=app.dest_namespace,
        source=source,
        automated=app.automated, sync_status="Synced" if in_sync else "OutOfSync",
        sync_revision=revision if in_sync else (prev.sync_revision if prev else ""),
        health_status=str(health or "Unknown"), reconciled_at=operation.finished_at,
        images=images)
    return record_operation(prev, update, operation)


def _time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_result(t: SyncTask) -> ResourceResult:
    """A task's outcome as Argo CD's syncResult.resources entry."""
    status, hook_phase = _RESULT_CODES.get(t.result or TaskResult.SKIPPED, ("", ""))
    # A message about a Secret may quote its data (an API server's validation error does): keep none.
    message = "" if t.key.kind == "Secret" and not t.key.group else t.message
    api_version = str(((t.obj or t.live) or {}).get("apiVersion", ""))
    return ResourceResult(kind=t.key.kind, name=t.key.name, namespace=t.key.namespace, group=t.key.group,
                          version=api_version.rpartition("/")[2], status=status, message=message,
                          hook_phase=hook_phase if t.hook else "", hook_type=str(t.phase) if t.hook else "",
                          sync_phase=str(t.phase))


def live_record(state: AppState, prev: AppRecord | None, dest_server: str) -> AppRecord:
    """What `list TARGET` shows for an app: its record (if any) with sync and health as compared now."""
    app = state.app
    base = prev or AppRecord(app=app.name, project=app.project, dest_server=dest_server,
                             dest_namespace=app.dest_namespace, automated=app.automated,
                             source=SourceRef(RepoURL.parse(app.source.repo_url).shown, app.source.path,
                                              app.source.target_revision))
    return replace(base, sync_status=str(state.sync_status), health_status=str(state.health or "Unknown"))


# -- serialisation ----------------------------------------------------------------------------------

def to_configmap(record: AppRecord, namespace: str, resource_version: str | None = None) -> Obj:
    meta: Obj = {"name": configmap_name(record.app), "namespace": namespace,
                 "labels": {RECORD_LABEL: "true", MANAGED_BY: "kubectl-gitops"}}
    if len(record.app) <= 63:
        meta["labels"][APP_LABEL] = record.app
    if resource_version:
        meta["resourceVersion"] = resource_version
    body = {"version": SCHEMA_VERSION, **asdict(record)}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {RECORD_KEY: orjson.dumps(body).decode()}}


def from_configmap(cm: Obj) -> AppRecord:
    meta = cm.get("metadata") or {}
    where = f"app record ConfigMap {meta.get('namespace', '')}/{meta.get('name', '')}"
    raw = (cm.get("data") or {}).get(RECORD_KEY)
    if not raw:
        raise GitopsError(f"{where}: has no {RECORD_KEY} key")
    try:
        doc = orjson.loads(raw)
        if doc.pop("version", None) != SCHEMA_VERSION:
            raise GitopsError(f"{where}: written by another version of kubectl-gitops (schema "
                              f"{doc.get('version')!r}, this one reads {SCHEMA_VERSION})")
        return _record(doc)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise GitopsError(f"{where}: not a valid app record ({type(e).__name__}: {e})") from None


def _source(d: Obj) -> SourceRef:
    return SourceRef(**d)


def _record(d: Obj) -> AppRecord:
    op = d.get("operation")
    operation = None
    if op is not None:
        operation = Operation(**{**op, "source": _source(op["source"]),
                                 "summary": tuple((k, v) for k, v in op["summary"]),
                                 "resources": tuple(ResourceResult(**r) for r in op["resources"])})
    return AppRecord(**{
        **d, "source": _source(d["source"]), "images": tuple(d["images"]), "operation": operation,
        "history": tuple(HistoryEntry(**{**h, "source": _source(h["source"])}) for h in d["history"]),
        "notified": tuple((k, v) for k, v in d["notified"]), "deliveries": tuple(d["deliveries"])})


# -- as an Argo CD Application ----------------------------------------------------------------------

def application_document(record: AppRecord, namespace: str, manifest: Obj | None = None) -> Obj:
    """The record as an argoproj.io Application: what `list -o yaml` prints and what notification
    triggers and templates are evaluated against (`app.status.sync.status`, `app.status.history`…).
    `manifest`, the Application from Git when at hand, gives its spec, labels and annotations."""
    return appdoc.build_application(record_facts(record, namespace, manifest))


def record_facts(record: AppRecord, namespace: str, manifest: Obj | None = None) -> appdoc.AppFacts:
    meta = (manifest or {}).get("metadata") or {}
    spec = dict((manifest or {}).get("spec") or {
        "source": record.source.document(),
        "destination": {"server": record.dest_server, "namespace": record.dest_namespace},
        **({"syncPolicy": {"automated": {}}} if record.automated else {})})
    annotations = dict(meta.get("annotations") or {})
    if record.notified:
        annotations["notified.notifications.argoproj.io"] = orjson.dumps(dict(record.notified)).decode()
    op = record.operation
    operation = None if op is None else appdoc.Operation(
        phase=op.phase, message=op.message, started_at=op.started_at, finished_at=op.finished_at,
        revision=op.revision, resources=op.resources, initiated_by=op.initiated_by, automated=op.automated,
        info=(("rollback", str(op.rollback_of)),) if op.rollback_of is not None else ())
    history = tuple(appdoc.HistoryEntry(id=h.id, revision=h.revision, deployed_at=h.deployed_at,
                                        deploy_started_at=h.deploy_started_at, source=h.source.document(),
                                        initiated_by=h.initiated_by, automated=h.automated)
                    for h in record.history)
    return appdoc.AppFacts(
        name=record.app, namespace=str(meta.get("namespace") or namespace), project=record.project, spec=spec,
        labels=dict(meta.get("labels") or {}), annotations=annotations,
        created_at=str(meta.get("creationTimestamp") or ""), sync_status=record.sync_status,
        sync_revision=record.sync_revision, health_status=record.health_status,
        health_message=record.health_message, health_since=record.health_since, operation=operation,
        images=record.images, history=history)
