"""The Application document trigger expressions and templates see, built from plain facts (a sync
result, an app record or a file can all supply them), shaped as Argo CD's Application. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl_gitops.model import Obj, container_images


@dataclass(frozen=True)
class ResourceResult:
    """One entry of status.operationState.syncResult.resources."""

    kind: str
    name: str
    namespace: str = ""
    group: str = ""
    version: str = ""
    status: str = ""  # Synced, SyncFailed, Pruned, PruneSkipped
    message: str = ""
    hook_phase: str = ""  # Running, Succeeded, Failed... for hooks
    hook_type: str = ""  # PreSync, Sync, PostSync, SyncFail
    sync_phase: str = ""  # PreSync, Sync, PostSync


@dataclass(frozen=True)
class Operation:
    """status.operationState: the last sync operation."""

    phase: str  # Running, Succeeded, Failed, Error, Terminating
    message: str = ""
    started_at: str = ""  # RFC 3339
    finished_at: str = ""
    revision: str = ""  # syncResult.revision
    resources: tuple[ResourceResult, ...] = ()
    initiated_by: str = "kubectl-gitops"
    automated: bool = False
    info: tuple[tuple[str, str], ...] = ()  # operation.info, e.g. a rollback's history id


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    revision: str
    deployed_at: str
    deploy_started_at: str = ""
    source: Obj = field(default_factory=dict)
    initiated_by: str = ""
    automated: bool = False


@dataclass(frozen=True)
class AppFacts:
    name: str
    namespace: str = "argocd"
    project: str = "default"
    spec: Obj = field(default_factory=dict)  # the Application's spec as written in Git
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    deleted_at: str = ""
    sync_status: str = "Unknown"  # Synced, OutOfSync, Unknown
    sync_revision: str = ""
    health_status: str = "Unknown"  # Healthy, Progressing, Degraded, Suspended, Missing, Unknown
    health_message: str = ""
    health_since: str = ""  # status.health.lastTransitionTime
    operation: Operation | None = None
    images: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    resources: tuple[Obj, ...] = ()  # status.resources entries, as Argo CD shapes them
    conditions: tuple[Obj, ...] = ()  # status.conditions entries {type, message, lastTransitionTime}


def _resource(r: ResourceResult) -> Obj:
    out: Obj = {"group": r.group, "version": r.version, "kind": r.kind, "namespace": r.namespace, "name": r.name,
                "status": r.status, "message": r.message}
    if r.hook_type:
        out.update(hookType=r.hook_type, hookPhase=r.hook_phase)
    if r.sync_phase:
        out["syncPhase"] = r.sync_phase
    return out


def build_application(f: AppFacts) -> Obj:
    """An argoproj.io/v1alpha1 Application with metadata, spec and status as Argo CD fills them."""
    meta: Obj = {"name": f.name, "namespace": f.namespace}
    for key, value in (("labels", f.labels), ("annotations", f.annotations),
                       ("creationTimestamp", f.created_at), ("deletionTimestamp", f.deleted_at)):
        if value:
            meta[key] = dict(value) if isinstance(value, dict) else value
    health: Obj = {"status": f.health_status}
    if f.health_message:
        health["message"] = f.health_message
    if f.health_since:
        health["lastTransitionTime"] = f.health_since
    status: Obj = {
        "sync": {"status": f.sync_status, "revision": f.sync_revision},
        "health": health,
        "summary": {"images": list(f.images)} if f.images else {},
        "history": [{"id": h.id, "revision": h.revision, "deployedAt": h.deployed_at,
                     **({"deployStartedAt": h.deploy_started_at} if h.deploy_started_at else {}),
                     **({"source": h.source} if h.source else {}),
                     **({"initiatedBy": _initiator(h.initiated_by, h.automated)} if h.initiated_by else {})}
                    for h in f.history],
        "resources": [dict(r) for r in f.resources],
    }
    if f.conditions:
        status["conditions"] = [dict(c) for c in f.conditions]
    if f.operation is not None:
        op = f.operation
        operation: Obj = {"sync": {"revision": op.revision}, "initiatedBy": _initiator(op.initiated_by, op.automated)}
        if op.info:
            operation["info"] = [{"name": k, "value": v} for k, v in op.info]
        state: Obj = {"phase": op.phase, "message": op.message, "startedAt": op.started_at, "operation": operation,
                      "syncResult": {"revision": op.revision, "resources": [_resource(r) for r in op.resources]}}
        if op.finished_at:
            state["finishedAt"] = op.finished_at
        status["operationState"] = state
    spec = {"project": f.project, **f.spec}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta, "spec": spec,
            "status": status}


def _initiator(name: str, automated: bool) -> Obj:
    return {"username": name, "automated": True} if automated else {"username": name}


def images_of(objects: list[Obj]) -> tuple[str, ...]:
    """status.summary.images: the container images of the app's workloads, sorted and unique."""
    return tuple(sorted({image for obj in objects for image in container_images(obj)}))
