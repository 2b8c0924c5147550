"""The Application document a sync result becomes (pure): revision, resources, and the health
transition time on-deployed compares with the sync's end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubectl_gitops.appdoc import build_application
from kubectl_gitops.apps import App, Source
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.notify.onsync import facts
from kubectl_gitops.notify.record import NotifyRecord
from kubectl_gitops.notify.triggers import NotifiedState
from kubectl_gitops.state import (
    AppState,
    AppSyncResult,
    HealthCode,
    OperationPhase,
    Phase,
    ResourceState,
    SyncStatus,
    SyncTask,
    TaskResult,
)

KEY = ResourceKey("apps", "Deployment", "web", "web")
T0, T1, T2 = (datetime(2024, 5, 1, 10, m, tzinfo=UTC) for m in (0, 1, 2))


def state(image: str = "nginx:1.27", revision: str | None = None) -> AppState:
    desired = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
               "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    manifest = {"metadata": {"name": "web", "namespace": "argocd", "labels": {"team": "a"},
                             "annotations": {"notifications.argoproj.io/subscribe.on-deployed.hook": ""}},
                "spec": {"source": {"repoURL": "https://git.example/r.git", "path": "web"}}}
    app = App(name="web", source=Source("https://git.example/r.git", "web"), manifest=manifest)
    return AppState(app=app, source_label="work tree", revision=revision,
                    resources=[ResourceState(app="web", key=KEY, status=SyncStatus.SYNCED, desired=desired)])


def result(written: bool, health: HealthCode = HealthCode.HEALTHY, revision: str | None = None) -> AppSyncResult:
    task = SyncTask(app="web", key=KEY, phase=Phase.SYNC, wave=0, obj={"apiVersion": "apps/v1"},
                    result=TaskResult.CONFIGURED if written else TaskResult.UNCHANGED)
    return AppSyncResult(app="web", source="work tree", revision=revision, started_at=T1, finished_at=T2,
                         phase=OperationPhase.SUCCEEDED, tasks=[task], health=health)


def doc(res: AppSyncResult, st: AppState, previous: NotifyRecord) -> tuple[dict[str, Any], NotifyRecord]:
    f, record = facts(res, st, previous)
    return build_application(f), record


def test_the_document_carries_what_the_sync_did() -> None:
    app, record = doc(result(True, revision="c0ffee"), state(revision="c0ffee"), NotifyRecord())
    assert app["metadata"]["labels"] == {"team": "a"}
    assert "notifications.argoproj.io/subscribe.on-deployed.hook" in app["metadata"]["annotations"]
    st = app["status"]
    assert st["sync"] == {"status": "Synced", "revision": "c0ffee"}
    assert st["operationState"]["phase"] == "Succeeded"
    assert st["operationState"]["finishedAt"] == "2024-05-01T10:02:00Z"
    assert st["operationState"]["syncResult"]["resources"] == [{
        "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web", "name": "web",
        "status": "Synced", "message": "", "syncPhase": "Sync"}]
    assert st["summary"]["images"] == ["nginx:1.27"]
    assert st["history"][0]["revision"] == "c0ffee"
    assert record.health == "Healthy" and record.health_since == "2024-05-01T10:02:00Z"


def test_health_since_moves_only_when_health_changes_or_the_sync_wrote() -> None:
    before = NotifyRecord(NotifiedState().keys, "Healthy", "2024-05-01T10:00:00Z")
    _, kept = doc(result(False), state(), before)
    assert kept.health_since == "2024-05-01T10:00:00Z"  # a no-change sync of a healthy app: no new deployment
    _, wrote = doc(result(True), state(), before)
    assert wrote.health_since == "2024-05-01T10:02:00Z"
    _, changed = doc(result(False, HealthCode.PROGRESSING), state(), before)
    assert changed.health == "Progressing" and changed.health_since == "2024-05-01T10:02:00Z"


def test_a_work_tree_is_named_by_what_it_applied() -> None:
    a, _ = doc(result(True), state("nginx:1.27"), NotifyRecord())
    b, _ = doc(result(True), state("nginx:1.27"), NotifyRecord())
    c, _ = doc(result(True), state("nginx:1.28"), NotifyRecord())
    rev = a["status"]["sync"]["revision"]
    assert rev.startswith("worktree-") and rev == b["status"]["sync"]["revision"] != c["status"]["sync"]["revision"]
