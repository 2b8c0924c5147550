"""Pre-flight: every check runs and every violation is reported together, before any write."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Cluster
from gitrepo import write_files
from kubectl_gitops import plan, preflight
from kubectl_gitops.apps import App, Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.preflight import Context, Violation
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import AppState, SyncRequest
from test_sync import cm, sync


def test_a_check_is_one_function_and_every_finding_of_every_app_is_reported() -> None:
    """What a new policy (AppProjects, sync windows) adds: one function returning violations."""
    plans = [plan.build(AppState(App(name=n, source=Source("", ".")), "work tree"), SyncRequest()) for n in "ab"]

    def window(p: plan.AppPlan, ctx: Context) -> list[Violation]:
        return [Violation("sync window", f"a deny window is active for {p.app}", "wait for it to close")]

    def project(p: plan.AppPlan, ctx: Context) -> list[Violation]:
        return [Violation("project", "destination not permitted")] if p.app == "b" else []

    ctx = Context(client=None, request=SyncRequest(), settings=Settings())  # type: ignore[arg-type]
    preflight.check_all(plans, ctx, [])  # nothing found: nothing raised
    with pytest.raises(GitopsError) as info:
        preflight.check_all(plans, ctx, [window, project])
    assert info.value.message == (
        "app a, b: 3 pre-flight problem(s); nothing was written:\n"
        "  app a: sync window: a deny window is active for a\n"
        "  app b: sync window: a deny window is active for b\n"
        "  app b: project: destination not permitted")
    assert info.value.hint == "wait for it to close"


def test_every_category_of_violation_is_reported_at_once(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"checks-{namespace}"
    owned = f"argocd.argoproj.io/tracking-id: '{app.name}:/ConfigMap:{namespace}/{{}}'"
    cluster.kubectl("apply", "-f", "-", stdin="---\n".join([
        cm("shared", namespace, ann=f"argocd.argoproj.io/tracking-id: 'other:/ConfigMap:{namespace}/shared'"),
        cm("old1", namespace, ann=owned.format("old1")),
        cm("old2", namespace, ann=owned.format("old2") + ", argocd.argoproj.io/sync-options: "
                                                         "PrunePropagationPolicy=bogus"),
    ]))
    write_files(app, {"a.yaml": cm("shared", namespace, data="a: '2'",
                                   ann="argocd.argoproj.io/sync-options: FailOnSharedResource=true")})
    code, _, err = sync(app, "--prune")
    assert code == 2, err
    assert "3 pre-flight problem(s); nothing was written" in err
    assert f"app {app.name}: validation: " in err and "a.yaml: ConfigMap " in err
    assert "already managed by app 'other'" in err
    assert "options: ConfigMap " in err and "unknown PrunePropagationPolicy 'bogus'" in err
    assert "prune: refusing to prune: prune would delete 2 of the app's 2 objects" in err
    assert "hint: foreground, background or orphan; check the render; pass --force-prune" in err
    assert cluster.get("-n", namespace, "configmap/shared")["data"] == {"a": "1"}
    for name in ("old1", "old2"):
        assert cluster.kubectl("get", "-n", namespace, f"configmap/{name}", check=False).returncode == 0
