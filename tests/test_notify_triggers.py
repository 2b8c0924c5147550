"""Deciding what to send, over sequences of Application documents: edge-triggering, oncePer,
notifications-engine's state keys, subscriptions and the ConfigMap's parsing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from kubectl_gitops import yamlio
from kubectl_gitops.appdoc import AppFacts, HistoryEntry, Operation, ResourceResult, build_application
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.notify.config import NotifyConfig, parse_config
from kubectl_gitops.notify.notifier import plan
from kubectl_gitops.notify.subscriptions import Destination, destinations
from kubectl_gitops.notify.triggers import NotifiedState

CM = Path(__file__).parent / "fixtures" / "notify" / "argocd-notifications-cm.yaml"
SUB = "notifications.argoproj.io/subscribe"


def catalog(**extra: str) -> NotifyConfig:
    cm = yamlio.load(CM.read_text(), str(CM))
    cm["data"].update(extra)
    return parse_config(cm, {"stringData": {"receiver-token": "tok"}}, "test")


def doc(phase: str | None = "Succeeded", revision: str = "r1", health: str = "Healthy",
        finished: str = "2024-05-01T10:00:00Z", healthy_since: str = "2024-05-01T10:00:10Z",
        annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    op = None if phase is None else Operation(
        phase=phase, message="failed" if phase == "Failed" else "", started_at="2024-05-01T09:59:00Z",
        finished_at="" if phase == "Running" else finished, revision=revision,
        resources=(ResourceResult(kind="Deployment", name="web", namespace="default", group="apps", version="v1",
                                  status="Synced"),))
    return build_application(AppFacts(
        name="guestbook", annotations=annotations if annotations is not None else {f"{SUB}.on-deployed.webhook": "x",
                                                                                  f"{SUB}.webhook": "x"},
        labels=labels or {}, spec={"source": {"repoURL": "https://git.example/repo.git"}},
        sync_status="Synced", sync_revision=revision, health_status=health, health_since=healthy_since,
        operation=op, images=("nginx:1.27",),
        history=(HistoryEntry(id=1, revision=revision, deployed_at=finished),)))


def fired_sequence(cfg: NotifyConfig, docs: list[dict[str, Any]], trigger: str | None = None) -> list[list[str]]:
    """For each document in turn: the triggers that fire (the state carried across, as across runs)."""
    state, out, logs = NotifiedState(), [], []
    for i, d in enumerate(docs):
        fired = [p.trigger for p in plan(cfg, d, None, state, now=1000 + i, log=logs.append)]
        out.append([t for t in fired if trigger is None or t == trigger])
        state = NotifiedState.from_json(state.to_json())  # persisted and read back between runs
    return out


def test_builder_shapes_an_argo_cd_application() -> None:
    app = doc()
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    assert app["spec"]["project"] == "default"
    st = app["status"]
    assert st["sync"] == {"status": "Synced", "revision": "r1"}
    assert st["health"] == {"status": "Healthy", "lastTransitionTime": "2024-05-01T10:00:10Z"}
    assert st["operationState"]["phase"] == "Succeeded"
    assert st["operationState"]["syncResult"]["revision"] == "r1"
    assert st["operationState"]["syncResult"]["resources"][0]["kind"] == "Deployment"
    assert st["summary"]["images"] == ["nginx:1.27"]
    assert st["history"][0] == {"id": 1, "revision": "r1", "deployedAt": "2024-05-01T10:00:00Z"}


def test_sync_succeeded_fires_once_per_revision() -> None:
    cfg = catalog()
    seq = [doc(revision="r1"), doc(revision="r1"), doc(revision="r2"), doc(revision="r2"), doc(revision="r1")]
    # r1 again at the end: its oncePer key was kept, so it is not sent a second time
    assert fired_sequence(cfg, seq, "on-sync-succeeded") == [["on-sync-succeeded"], [], ["on-sync-succeeded"], [], []]


def test_on_deployed_fires_once_per_revision_when_healthy_after_the_sync() -> None:
    cfg = catalog()
    seq = [
        doc(phase="Running", revision="r1"),
        doc(revision="r1", health="Progressing"),
        doc(revision="r1", healthy_since="2024-05-01T09:00:00Z"),  # healthy since before the sync finished
        doc(revision="r1"),
        doc(revision="r1"),
        doc(phase="Running", revision="r2"),
        doc(revision="r2", finished="2024-05-01T11:00:00Z", healthy_since="2024-05-01T11:00:03Z"),
        doc(revision="r2", finished="2024-05-01T11:00:00Z", healthy_since="2024-05-01T11:00:03Z"),
    ]
    assert fired_sequence(cfg, seq, "on-deployed") == [[], [], [], ["on-deployed"], [], [], ["on-deployed"], []]


def test_without_once_per_the_key_is_forgotten_when_the_condition_turns_false() -> None:
    cfg = catalog(**{"trigger.degraded-edge": "- when: app.status.health.status == 'Degraded'\n"
                                              "  send: [app-health-degraded]"})
    ann = {f"{SUB}.degraded-edge.webhook": "x"}
    seq = [doc(health="Degraded", annotations=ann), doc(health="Degraded", annotations=ann),
           doc(health="Healthy", annotations=ann), doc(health="Degraded", annotations=ann)]
    assert fired_sequence(cfg, seq) == [["degraded-edge"], [], [], ["degraded-edge"]]


def test_with_once_per_the_key_stays_when_the_condition_turns_false() -> None:
    cfg = catalog()
    ann = {f"{SUB}.on-health-degraded.webhook": "x"}
    seq = [doc(health="Degraded", annotations=ann), doc(health="Healthy", annotations=ann),
           doc(health="Degraded", annotations=ann), doc(health="Degraded", revision="r2", annotations=ann)]
    assert fired_sequence(cfg, seq) == [["on-health-degraded"], [], [], ["on-health-degraded"]]


def test_state_keys_are_notifications_engine_keys() -> None:
    cfg = catalog()
    state = NotifiedState()
    plan(cfg, doc(annotations={f"{SUB}.on-sync-succeeded.webhook": "a;b"}), None, state, now=42, log=print)
    when = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']"
    h = base64.urlsafe_b64encode(hashlib.sha1(when.encode()).digest()).rstrip(b"=").decode()
    assert state.keys == {f"r1:on-sync-succeeded:[0].{h}:webhook:a": 42, f"r1:on-sync-succeeded:[0].{h}:webhook:b": 42}
    assert NotifiedState.from_json("not json").keys == {}


def test_state_keeps_the_newest_hundred_keys() -> None:
    state = NotifiedState({f"k{i}": i for i in range(150)})
    state.truncate()
    assert len(state.keys) == 100 and min(state.keys.values()) == 50


def test_non_boolean_or_failing_conditions_never_fire_and_are_logged() -> None:
    cfg = catalog(**{"trigger.t-string": "- when: app.metadata.name\n  send: [app-created]",
                     "trigger.t-error": "- when: app.status.nothing.deeper == 1\n  send: [app-created]"})
    logs: list[str] = []
    ann = {f"{SUB}.t-string.webhook": "x", f"{SUB}.t-error.webhook": "x"}
    assert plan(cfg, doc(annotations=ann), None, NotifiedState(), now=1, log=logs.append) == []
    assert any("t-string" in m and "not a boolean" in m for m in logs)
    assert any("t-error" in m and "cannot fetch deeper from <nil>" in m for m in logs)


def test_subscriptions_from_annotations_project_and_config() -> None:
    cfg = catalog(**{"defaultTriggers.slack": "- on-deployed", "subscriptions": (
        "- recipients: [webhook:ops, email:team@example.com]\n  triggers: [on-sync-failed]\n"
        "  selector: team in (a, b)\n"
        "- recipients: [slack:never]\n  selector: team=c\n")})
    app = doc(annotations={f"{SUB}.on-sync-succeeded.webhook": "one; two", f"{SUB}.slack": "chan",
                           f"{SUB}.email": "me@example.com"}, labels={"team": "a"})
    project = {"metadata": {"name": "p", "annotations": {f"{SUB}.on-sync-succeeded.webhook": "two;three"}}}
    got = destinations(cfg, app, project)
    assert got["on-sync-succeeded"] == [Destination("email", "me@example.com"), Destination("webhook", "one"),
                                        Destination("webhook", "two"), Destination("webhook", "three")]
    assert got["on-deployed"] == [Destination("slack", "chan")]  # defaultTriggers.slack
    assert got["on-sync-failed"] == [Destination("email", "me@example.com"), Destination("webhook", "ops"),
                                     Destination("email", "team@example.com")]


def test_config_substitutes_secrets_and_refuses_unknown_keys() -> None:
    cfg = catalog()
    assert cfg.services["receiver"].options["headers"][1]["value"] == "tok"
    assert cfg.services["receiver"].options["basicAuth"]["password"] == "$receiver-password"  # no such key
    assert "tok" not in repr(cfg)
    with pytest.raises(GitopsError, match="key 'bogus': not a notifications setting"):
        catalog(bogus="x")
    with pytest.raises(GitopsError, match="field 'proxy' is not supported for webhook"):
        catalog(**{"service.webhook.x": "url: http://127.0.0.1\nproxy: y"})
    with pytest.raises(GitopsError, match="unknown field 'sms'"):
        catalog(**{"template.x": "message: hi\nsms: no"})
    with pytest.raises(GitopsError, match=r"trigger 'broken' condition \[0\] when: syntax error: .* at column 9"):
        catalog(**{"trigger.broken": "- when: app.x ==\n  send: [app-created]"})
    # another service's block in a template is accepted (used only for that service)
    assert "teams" in catalog(**{"template.x": "message: hi\nteams:\n  title: t"}).templates["x"]
