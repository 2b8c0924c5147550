"""Unit tests of the pure parts of watch: Argo CD's autoSync decision, the self-heal and retry
backoffs, the webhook payloads and their shared-secret checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from conftest import run_cli
from kubectl_gitops.apps import App, Retry, Source, parse_application
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.source import normalize_url
from kubectl_gitops.state import AppState, ResourceState, SyncStatus
from kubectl_gitops.watch.decide import Action, Decision, Memory, decide, heal_delay, remember
from kubectl_gitops.watch.loop import poll_delay
from kubectl_gitops.watch.webhook import Refused, parse_push


def state(status: SyncStatus = SyncStatus.OUT_OF_SYNC, desired: bool = True, **app: object) -> AppState:
    a = App(name="web", source=Source("file:///r", "m"), **app)  # type: ignore[arg-type]
    rs = ResourceState("web", ResourceKey("", "ConfigMap", "ns", "c"), status, desired={} if desired else None)
    return AppState(app=a, source_label="work tree", revision="abc", resources=[rs])


def run(st: AppState, mem: Memory, now: float = 100.0, drift: bool = True, window: str = "") -> Decision:
    return decide(st, "t1", mem, now=now, window=window, drift_seen=drift)


def test_only_out_of_sync_automated_apps_are_synced() -> None:
    assert run(state(SyncStatus.SYNCED, automated=True), Memory()).action == Action.SKIP
    d = run(state(), Memory())
    assert d.action == Action.SKIP and "no syncPolicy.automated" in d.reason
    assert run(state(automated=True), Memory()).action == Action.SYNC
    d = run(state(automated=True), Memory(), window="blocked by deny window 0")
    assert d.action == Action.SKIP and d.reason.startswith("automated sync blocked")


def test_allow_empty() -> None:
    empty = state(desired=False, automated=True, auto_prune=True)
    assert "allowEmpty" in run(empty, Memory()).reason
    assert run(state(desired=False, automated=True, auto_prune=True, allow_empty=True), Memory()).action == Action.SYNC


def test_once_per_revision_and_self_heal_backoff() -> None:
    mem = Memory(target="t1", ok=True, finished=90.0)
    assert "selfHeal is off" in run(state(automated=True), mem).reason
    heal = state(automated=True, self_heal=True)
    d = run(heal, mem)
    assert d.action == Action.SYNC and d.heal
    remember(mem, "t1", True, 100.0, d)
    d = run(heal, mem, now=101.0)  # the second heal waits 2 s after the first
    assert d.action == Action.WAIT and d.after == pytest.approx(1.0)
    assert [heal_delay(n) for n in range(7)] == [0, 2, 6, 18, 54, 162, 300]
    assert run(heal, Memory(target="t1", ok=True, finished=99.5), drift=False).action == Action.WAIT  # settling


def test_a_failed_sync_is_retried_only_per_retry() -> None:
    mem = Memory(target="t1", ok=False, finished=100.0)
    assert "no syncPolicy.retry" in run(state(automated=True), mem, now=1000).reason
    retrying = state(automated=True, retry=Retry(limit=2, duration=5, factor=2, max_duration=8))
    assert run(retrying, mem, now=103).action == Action.WAIT
    d = run(retrying, mem, now=105)
    assert d.action == Action.SYNC and d.retry
    remember(mem, "t1", False, 105, d)
    assert run(retrying, mem, now=105 + 7).action == Action.WAIT  # 5 s × 2 = 10 s, capped at maxDuration 8 s
    assert run(retrying, mem, now=105 + 8).action == Action.SYNC
    mem.retries = 2
    assert "retry limit 2 reached" in run(retrying, mem, now=10_000).reason
    assert run(retrying, mem, now=10_000).action == Action.SKIP
    assert run(state(automated=True), Memory(target="t0", ok=False)).action == Action.SYNC  # a new revision


def test_retry_parsed_with_argo_defaults() -> None:
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"},
           "spec": {"source": {"path": "p"}, "syncPolicy": {
        "automated": {"allowEmpty": True}, "retry": {"limit": 3, "backoff": {"duration": "10s"}}}}}
    app = parse_application(doc, "f.yaml")
    assert app.allow_empty and app.retry == Retry(limit=3, duration=10, factor=2, max_duration=180)
    doc["spec"]["syncPolicy"]["retry"] = {"backoff": {"duration": "5d"}}
    with pytest.raises(GitopsError, match="retry"):
        parse_application(doc, "f.yaml")


BODY = b'{"repository": {"clone_url": "https://git.example/r.git", "html_url": "https://git.example/r"}}'


def sig(secret: str) -> str:
    return hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("headers", "provider"), [
    ({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig("k")}, "github"),
    ({"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Gitea-Signature": sig("k")}, "gitea"),
    ({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "k"}, "gitlab"),
])
def test_webhook_signatures(headers: dict[str, str], provider: str) -> None:
    body = BODY if provider != "gitlab" else b'{"project": {"git_http_url": "https://git.example/r.git"}}'
    push = parse_push(headers, body, {provider: "k"})
    assert push is not None and push.provider == provider and "https://git.example/r.git" in push.urls
    with pytest.raises(Refused) as e:
        parse_push(headers, body, {provider: "other"})
    assert e.value.status == 401


def test_bitbucket_server_and_other_events() -> None:
    body = b'{"repository": {"links": {"clone": [{"href": "ssh://git@bb/r.git"}]}}}'
    h = {"X-Event-Key": "repo:refs_changed",
         "X-Hub-Signature": "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()}
    push = parse_push(h, body, {"bitbucketserver": "k"})
    assert push is not None and push.urls == ["ssh://git@bb/r.git"]
    assert parse_push({"X-GitHub-Event": "ping"}, b"{}", {}) is None
    with pytest.raises(Refused):
        parse_push({}, b"{}", {})


def test_bitbucket_cloud_checks_the_hook_uuid() -> None:
    """Argo CD's webhook.bitbucket.uuid: X-Hook-UUID must be the configured one (Bitbucket Cloud sends
    it with braces); it is told from Bitbucket Server by that header, though both send X-Event-Key."""
    body = b'{"repository": {"full_name": "team/r", "links": {"html": {"href": "https://bitbucket.org/team/r"}}}}'
    uuid = "{3f1c2a9e-0d1b-4c55-9e0f-6c1b2a3d4e5f}"
    h = {"X-Event-Key": "repo:push", "X-Hook-UUID": uuid}
    push = parse_push(h, body, {"bitbucket": uuid.strip("{}")})
    assert push is not None and push.provider == "bitbucket" and push.urls == ["https://bitbucket.org/team/r"]
    assert normalize_url(push.urls[0]) == normalize_url("git@bitbucket.org:team/r.git")
    with pytest.raises(Refused) as e:
        parse_push({**h, "X-Hook-UUID": "{00000000-0000-0000-0000-000000000000}"}, body, {"bitbucket": uuid})
    assert e.value.status == 401 and "bitbucket:" in str(e.value)
    assert parse_push({**h, "X-Event-Key": "pullrequest:created"}, body, {"bitbucket": uuid}) is None
    assert parse_push(h, body, {}) is not None  # no UUID set: accepted, as in Argo CD


def test_a_bad_listen_address_is_one_error_and_exit_2() -> None:
    res = run_cli("kubectl-gitops", "watch", ".", "--webhook-addr", "nope", "-s", "https://127.0.0.1:1", "--token", "x")
    assert res.returncode == 2 and "--webhook-addr 'nope': expected HOST:PORT" in res.stderr


def test_poll_delay_adds_up_to_the_jitter() -> None:
    assert poll_delay(180, 0) == 180
    assert poll_delay(180, 60, lambda: 0.0) == 180 and poll_delay(180, 60, lambda: 0.5) == 210
    assert all(120 <= poll_delay(120, 60) < 180 for _ in range(100))
