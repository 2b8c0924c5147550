"""Pre-flight: every check runs and every violation is reported together, before any write."""

from __future__ import annotations

from pathlib import Path

from conftest import Cluster
from gitrepo import write_files
from test_sync import cm, sync


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
