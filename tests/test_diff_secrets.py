"""Secret values never reach the terminal (masked like Argo CD), and objects the app owns that Git no
longer has show as Extraneous (what sync would prune)."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import TRACKING, apply, configmap, deployment, diff, statuses

OLD, NEW, SAME, GONE = "s3cr3t-OLD-value", "s3cr3t-NEW-value", "admin-user-xyz", "tok-LEAK-123"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _secret(ns: str, name: str, string_data: dict[str, str], annotations: dict[str, str] | None = None) -> str:
    ann = "".join(f"\n    {k}: {v}" for k, v in (annotations or {}).items())
    body = "".join(f"\n  {k}: {v}" for k, v in string_data.items())
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            + (f"  annotations:{ann}\n" if ann else "") + f"type: Opaque\nstringData:{body}\n")


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_secret_values_are_masked(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "vault"
    app.mkdir()
    (app / "secrets.yaml").write_text("---\n".join([
        _secret(namespace, "db", {"password": NEW, "username": SAME}),
        _secret(namespace, "new-one", {"apikey": "ak-NEVER-SHOWN"}),
        # As base64 `data` in Git, as stringData in the cluster: the same value, so Synced.
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: folded, namespace: {namespace}}}\n"
        f"type: Opaque\ndata: {{k: {_b64('folded-VALUE')}}}\n",
    ]))
    # Client-side apply leaves the whole object, values included, in the last-applied annotation.
    cluster.kubectl("apply", "-f", "-", stdin=_secret(namespace, "db", {"password": OLD, "username": SAME}))
    apply(cluster, _secret(namespace, "folded", {"k": "folded-VALUE"}))
    apply(cluster, _secret(namespace, "stale", {"token": GONE}, {TRACKING: f"vault:/Secret:{namespace}/stale"}))

    res = diff(str(app))
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {("vault", "Secret", namespace, "db"): "OutOfSync",
                                    ("vault", "Secret", namespace, "new-one"): "Missing",
                                    ("vault", "Secret", namespace, "folded"): "Synced",
                                    ("vault", "Secret", namespace, "stale"): "Extraneous"}
    # A changed value: live and Git get different masks; an unchanged one the same mask.
    assert " data:\n-  password: ++++++++++++\n+  password: ++++++++\n   username: ++++++++\n" in res.stdout
    assert "+  apikey: ++++++++\n" in res.stdout
    assert "-  token: ++++++++\n" in res.stdout

    secrets = (OLD, NEW, SAME, GONE, "ak-NEVER-SHOWN", "folded-VALUE")
    forbidden = [*secrets, *map(_b64, secrets)]
    runs = [diff(str(app), *args) for args in
            ([], ["--color", "always"], ["-o", "json"], ["-o", "yaml"], ["-o", "markdown"], ["-o", "table"])]
    for res in runs:
        assert res.returncode == 1, res.stderr
        for value in forbidden:
            assert value not in res.stdout and value not in res.stderr, (value, res.args)
    assert "++++++++++++" in runs[2].stdout  # the json document carries the masked diff too


def _shop(tmp_path: Path, namespace: str) -> Path:
    app = tmp_path / "shop"
    app.mkdir()
    (app / "cm.yaml").write_text(configmap(namespace, "kept", {"k": "v"}))
    return app


def test_owned_objects_no_longer_in_git_are_extraneous(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    other_ns = f"{namespace}-b"
    cluster.kubectl("create", "namespace", other_ns)
    try:
        app = _shop(tmp_path, namespace)
        apply(cluster, configmap(namespace, "kept", {"k": "v"}))
        apply(cluster, configmap(namespace, "old-cm", {"k": "v"}, {TRACKING: f"shop:/ConfigMap:{namespace}/old-cm"}))
        # A kind Git no longer has at all, in a namespace Git no longer names.
        web = deployment(other_ns, "old-web").replace(
            "metadata: {name: old-web, namespace: " + other_ns + "}",
            f"metadata:\n  name: old-web\n  namespace: {other_ns}\n  annotations:\n"
            f"    {TRACKING}: shop:apps/Deployment:{other_ns}/old-web")
        apply(cluster, web)
        # Not ours: another app's object, and one whose tracking id was copied from another object.
        apply(cluster, configmap(namespace, "foreign", {"k": "v"}, {TRACKING: f"other:/ConfigMap:{namespace}/foreign"}))
        apply(cluster, configmap(namespace, "copy", {"k": "v"}, {TRACKING: f"shop:/ConfigMap:{namespace}/kept"}))

        res = diff(str(app))
        assert res.returncode == 1, res.stderr
        assert statuses(res.stdout) == {("shop", "ConfigMap", namespace, "kept"): "Synced",
                                        ("shop", "ConfigMap", namespace, "old-cm"): "Extraneous",
                                        ("shop", "Deployment", other_ns, "old-web"): "Extraneous"}
        assert f"===== shop: ConfigMap {namespace}/old-cm (Extraneous) =====" in res.stdout
        assert "-  name: old-cm\n" in res.stdout and "+  name" not in res.stdout
        # A diff writes nothing: the extraneous objects are still there.
        assert cluster.get("-n", namespace, "configmap/old-cm")["metadata"]["name"] == "old-cm"

        ignore = {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}
        cluster.kubectl("annotate", "-n", namespace, "configmap/old-cm", *(f"{k}={v}" for k, v in ignore.items()))
        cluster.kubectl("annotate", "-n", other_ns, "deployment/old-web", *(f"{k}={v}" for k, v in ignore.items()))
        res = diff(str(app))
        assert res.returncode == 0, res.stdout
        assert statuses(res.stdout)[("shop", "ConfigMap", namespace, "old-cm")] == "Extraneous (ignored)"
        assert "=====" not in res.stdout
    finally:
        cluster.kubectl("delete", "namespace", other_ns, "--wait=false")


def test_missing_objects_are_not_created(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "fresh"
    app.mkdir()
    (app / "objects.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: v1
        kind: ServiceAccount
        metadata: {{name: robot, namespace: {namespace}}}
        """))
    res = diff(str(app))
    assert res.returncode == 1
    assert statuses(res.stdout) == {("fresh", "ServiceAccount", namespace, "robot"): "Missing"}
    assert cluster.kubectl("get", "-n", namespace, "serviceaccount/robot", check=False).returncode != 0
