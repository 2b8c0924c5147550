"""ignoreDifferences: jsonPointers, jqPathExpressions and managedFieldsManagers from the Application, and
the argocd-cm form (`resource.customizations.ignoreDifferences.<group>_<kind>` and `.all`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import Repo, application, apply, configmap, deployment, diff, statuses


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _web_app(repo: Repo, ns: str, ignore: str = "") -> str:
    """apps/web.yaml: the Deployment `web` in services/web, with these ignoreDifferences (YAML list)."""
    extra = "ignoreDifferences:\n" + textwrap.indent(textwrap.dedent(ignore), "  ") if ignore else ""
    repo.write("apps/web.yaml", application("web", "services/web", ns, extra_spec=extra))
    return "apps/web.yaml"


@pytest.fixture
def web(cluster: Cluster, namespace: str, tmp_path: Path) -> Repo:
    """The Deployment `web` (1 replica, image 1.0.0) in Git and, as synced, in the cluster."""
    repo = Repo(tmp_path / "config")
    repo.write("services/web/deployment.yaml", deployment("", "web"))
    _web_app(repo, namespace)
    repo.commit()
    apply(cluster, deployment(namespace, "web"))
    assert diff("apps/web.yaml", cwd=repo.root).returncode == 0
    return repo


def _web_status(repo: Repo, ns: str, *args: str) -> tuple[int, str, str]:
    res = diff("apps/web.yaml", *args, cwd=repo.root)
    return res.returncode, statuses(res.stdout)[("web", "Deployment", ns, "web")], res.stdout


def test_json_pointers(cluster: Cluster, namespace: str, web: Repo) -> None:
    cluster.kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")
    rc, status, out = _web_status(web, namespace)
    assert (rc, status) == (1, "OutOfSync")
    assert "-  replicas: 3\n+  replicas: 1\n" in out

    _web_app(web, namespace, """\
        - group: apps
          kind: Deployment
          jsonPointers: [/spec/replicas]
        """)
    assert _web_status(web, namespace)[:2] == (0, "Synced")

    # The selectors count: a rule for another name or another kind ignores nothing here.
    for selector in ("group: apps\n  kind: Deployment\n  name: other", "group: apps\n  kind: StatefulSet",
                     "kind: Deployment"):  # no group: the core group, as in Argo CD
        _web_app(web, namespace, f"- {selector}\n  jsonPointers: [/spec/replicas]\n")
        assert _web_status(web, namespace)[:2] == (1, "OutOfSync"), selector
    _web_app(web, namespace, f"- group: apps\n  kind: Deployment\n  namespace: {namespace}\n  name: web\n"
                             "  jsonPointers: [/spec/replicas]\n")
    assert _web_status(web, namespace)[:2] == (0, "Synced")


def test_jq_path_expressions(cluster: Cluster, namespace: str, web: Repo) -> None:
    cluster.kubectl("set", "image", "-n", namespace, "deployment/web", "app=registry.invalid/web:9.9.9")
    rc, status, out = _web_status(web, namespace)
    assert (rc, status) == (1, "OutOfSync")
    assert "registry.invalid/web:9.9.9" in out

    _web_app(web, namespace, """\
        - group: apps
          kind: Deployment
          jqPathExpressions:
            - '.spec.template.spec.containers[] | select(.name == "app") | .image'
        """)
    assert _web_status(web, namespace)[:2] == (0, "Synced")

    _web_app(web, namespace, """\
        - group: apps
          kind: Deployment
          jqPathExpressions:
            - '.spec.template.spec.containers[] | select(.name == "sidecar") | .image'
        """)
    assert _web_status(web, namespace)[:2] == (1, "OutOfSync")


def test_managed_fields_managers(cluster: Cluster, namespace: str, web: Repo) -> None:
    # An autoscaler owns replicas now; someone else changed the image.
    cluster.kubectl("patch", "-n", namespace, "deployment/web", "--field-manager=hpa-controller",
                    "--type=merge", "-p", '{"spec": {"replicas": 5}}')
    rc, status, out = _web_status(web, namespace)
    assert (rc, status) == (1, "OutOfSync")
    assert "-  replicas: 5\n+  replicas: 1\n" in out

    _web_app(web, namespace, """\
        - group: apps
          kind: Deployment
          managedFieldsManagers: [hpa-controller]
        """)
    assert _web_status(web, namespace)[:2] == (0, "Synced")

    # Only what that manager owns is ignored: another manager's change still shows, replicas do not.
    cluster.kubectl("patch", "-n", namespace, "deployment/web", "--field-manager=someone", "--type=json",
                    "-p", '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
                          '"value": "registry.invalid/web:2.0.0"}]')
    rc, status, out = _web_status(web, namespace)
    assert (rc, status) == (1, "OutOfSync")
    assert "-      - image: registry.invalid/web:2.0.0\n+      - image: registry.invalid/web:1.0.0\n" in out
    assert "replicas" not in out


ARGOCD_CM = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cm, namespace: argocd}
data:
"""


def _argocd_cm(path: Path, entries: dict[str, str]) -> str:
    body = "".join(f"  resource.customizations.ignoreDifferences.{k}: |\n{textwrap.indent(v, '    ')}"
                   for k, v in entries.items())
    path.write_text(ARGOCD_CM + body)
    return str(path)


def test_argocd_cm_file(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "plain"
    app.mkdir()
    (app / "objects.yaml").write_text(deployment(namespace, "web") + "---\n" + configmap(namespace, "c", {"k": "v"}))
    apply(cluster, (app / "objects.yaml").read_text())
    cluster.kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")
    cluster.kubectl("patch", "-n", namespace, "configmap/c", "--field-manager=hpa-controller", "--type=merge",
                    "-p", '{"data": {"k": "changed"}}')
    dep, cm = ("plain", "Deployment", namespace, "web"), ("plain", "ConfigMap", namespace, "c")

    res = diff(str(app))
    assert res.returncode == 1
    assert statuses(res.stdout) == {dep: "OutOfSync", cm: "OutOfSync"}

    only_deployments = _argocd_cm(tmp_path / "cm1.yaml", {"apps_Deployment": "jsonPointers:\n- /spec/replicas\n"})
    res = diff(str(app), "--argocd-cm", only_deployments)
    assert res.returncode == 1
    assert statuses(res.stdout) == {dep: "Synced", cm: "OutOfSync"}

    both = _argocd_cm(tmp_path / "cm2.yaml", {"apps_Deployment": "jsonPointers:\n- /spec/replicas\n",
                                              "all": "managedFieldsManagers:\n- hpa-controller\n"})
    res = diff(str(app), "--argocd-cm", both)
    assert res.returncode == 0, res.stdout
    assert statuses(res.stdout) == {dep: "Synced", cm: "Synced"}

    jq_all = _argocd_cm(tmp_path / "cm3.yaml", {"all": "jqPathExpressions:\n- .spec.replicas\n- .data.k\n"})
    assert diff(str(app), "--argocd-cm", jq_all).returncode == 0


def test_argocd_cm_in_the_cluster(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "plain"
    app.mkdir()
    (app / "dep.yaml").write_text(deployment(namespace, "web"))
    apply(cluster, deployment(namespace, "web"))
    cluster.kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")
    assert diff(str(app)).returncode == 1

    # The cluster's argocd/argocd-cm, with a rule only for this test's namespace.
    cluster.kubectl("create", "namespace", "argocd", check=False)
    cm = _argocd_cm(tmp_path / "cm.yaml", {"apps_Deployment": "jsonPointers:\n- /spec/replicas\n"})
    cm_text = Path(cm).read_text().replace("jsonPointers", f"namespace: {namespace}\n    jsonPointers")
    try:
        cluster.kubectl("apply", "-f", "-", stdin=cm_text)
        assert diff(str(app)).returncode == 0
        # Read from the cluster, not from a file: another namespace is not covered by the rule.
        cluster.kubectl("create", "namespace", f"{namespace}-x")
        try:
            apply(cluster, deployment(f"{namespace}-x", "web"))
            cluster.kubectl("scale", "-n", f"{namespace}-x", "deployment/web", "--replicas=3")
            (app / "dep.yaml").write_text(deployment(f"{namespace}-x", "web"))
            assert diff(str(app)).returncode == 1
        finally:
            cluster.kubectl("delete", "namespace", f"{namespace}-x", "--wait=false")
    finally:
        cluster.kubectl("delete", "configmap", "-n", "argocd", "argocd-cm")
