"""Unit tests of the app record (pure): history bounds, truncation, round trip, the Application view."""

from __future__ import annotations

import orjson
import pytest

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.record import (
    HISTORY_LIMIT,
    MESSAGE_LIMIT,
    RECORD_KEY,
    RESOURCE_LIMIT,
    SUCCEEDED,
    AppRecord,
    Operation,
    ResourceResult,
    SourceRef,
    application_document,
    from_configmap,
    history_entry,
    record_operation,
    to_configmap,
)
from kubectl_gitops.state import OperationPhase

DEPLOYED = ResourceResult(kind="Deployment", name="web", namespace="ns", group="apps", status="Synced")
SRC = SourceRef(repo_url="https://git.example/repo.git", path="apps/web", target_revision="main")


def op(phase: str = SUCCEEDED, revision: str = "a" * 40, **kw: object) -> Operation:
    return Operation(phase=phase, message=kw.pop("message", "ok"), started_at="2026-12-01T10:00:00Z",  # type: ignore[arg-type]
                     finished_at="2026-12-01T10:00:05Z", initiated_by="alice@host", revision=revision,
                     source=SRC, **kw)  # type: ignore[arg-type]


def current(**kw: object) -> AppRecord:
    base: dict[str, object] = {"sync_status": "Synced", "health_status": "Healthy", **kw}
    return AppRecord(app="web", source=SRC, **base)  # type: ignore[arg-type]


def test_successful_operations_build_a_bounded_history() -> None:
    rec = None
    for i in range(HISTORY_LIMIT + 3):
        rec = record_operation(rec, current(), op(revision=f"{i:040d}"))
    assert rec is not None
    assert len(rec.history) == HISTORY_LIMIT
    assert [h.id for h in rec.history] == list(range(3, HISTORY_LIMIT + 3))
    assert rec.history[-1].revision == f"{HISTORY_LIMIT + 2:040d}"


def test_a_failed_operation_is_recorded_but_not_a_deployment() -> None:
    rec = record_operation(None, current(), op())
    failed = op(str(OperationPhase.FAILED), "b" * 40, message="boom")
    rec = record_operation(rec, current(sync_status="OutOfSync"), failed)
    assert rec.operation is not None
    assert rec.operation.phase == OperationPhase.FAILED and rec.operation.message == "boom"
    assert [h.revision for h in rec.history] == ["a" * 40]


def test_messages_and_resources_are_truncated() -> None:
    many = tuple(ResourceResult(kind="ConfigMap", name=f"c{i}", namespace="ns", status="Synced", message="x" * 1000)
                 for i in range(RESOURCE_LIMIT + 50))
    rec = record_operation(None, current(), op(message="m" * 5000, resources=many,
                                              summary=(("Synced", RESOURCE_LIMIT + 50),)))
    assert rec.operation is not None
    assert len(rec.operation.message) == MESSAGE_LIMIT
    assert len(rec.operation.resources) == RESOURCE_LIMIT
    assert all(len(r.message) <= 256 for r in rec.operation.resources)
    assert dict(rec.operation.summary) == {"Synced": RESOURCE_LIMIT + 50}


def test_configmap_round_trip() -> None:
    rec = record_operation(None, current(images=("nginx:1.27",), notified=(("k", 1),)),
                           op(resources=(DEPLOYED,),
                              rollback_of=3))
    cm = to_configmap(rec, "argocd", resource_version="42")
    assert cm["metadata"]["name"] == "kubectl-gitops-app-web"
    assert cm["metadata"]["resourceVersion"] == "42"
    assert from_configmap(cm) == rec
    assert rec.history[0].rollback is True


def test_a_damaged_record_is_a_clear_error() -> None:
    cm = {"metadata": {"namespace": "argocd", "name": "kubectl-gitops-app-web"}, "data": {RECORD_KEY: "{"}}
    with pytest.raises(GitopsError, match="argocd/kubectl-gitops-app-web: not a valid app record"):
        from_configmap(cm)
    cm["data"][RECORD_KEY] = orjson.dumps({"version": 99}).decode()
    with pytest.raises(GitopsError, match="another version"):
        from_configmap(cm)


def test_rollback_target_defaults_to_the_previous_deployment() -> None:
    rec = None
    for rev in ("1" * 40, "2" * 40, "3" * 40):
        rec = record_operation(rec, current(), op(revision=rev))
    assert rec is not None
    assert history_entry(rec, None).revision == "2" * 40
    assert history_entry(rec, 0).revision == "1" * 40
    with pytest.raises(GitopsError, match="no history entry 7 \\(ids: 0, 1, 2\\)"):
        history_entry(rec, 7)
    with pytest.raises(GitopsError, match="no earlier deployment"):
        history_entry(record_operation(None, current(), op()), None)


def test_application_document_has_argo_cd_status_fields() -> None:
    rec = record_operation(None, current(automated=True, images=("nginx:1.27",)),
                           op(resources=(DEPLOYED,)))
    doc = application_document(rec, "argocd")
    assert doc["kind"] == "Application" and doc["metadata"] == {"name": "web", "namespace": "argocd"}
    st = doc["status"]
    assert st["sync"]["status"] == "Synced" and st["health"]["status"] == "Healthy"
    assert st["operationState"]["phase"] == SUCCEEDED
    assert st["operationState"]["syncResult"]["revision"] == "a" * 40
    assert st["operationState"]["syncResult"]["resources"][0]["kind"] == "Deployment"
    assert st["operationState"]["operation"]["initiatedBy"] == {"username": "alice@host"}
    assert st["history"][0]["id"] == 0 and st["history"][0]["source"]["path"] == "apps/web"
    assert st["summary"]["images"] == ["nginx:1.27"]
    assert doc["spec"]["syncPolicy"] == {"automated": {}}
