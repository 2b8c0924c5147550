"""Helm sources as Argo CD renders them, with real helm, a chart repository on loopback and the real
control plane: values precedence, releaseName, dependencies, hooks, source.chart, App of Apps, and
every bad input ending in exit 2 with nothing written."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import ORIGIN_URL, Repo, application, diff, error_of, sync
from helm_helpers import PRIVATE_PASSWORD, PRIVATE_USER, ChartRepo, write_chart


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def helm_app(name: str, path: str, ns: str, helm_spec: str) -> str:
    """An Application of the chart at `path` with `helm_spec` as its source.helm."""
    helm_block = f"    helm:\n{textwrap.indent(textwrap.dedent(helm_spec), '      ')}"
    return application(name, path, ns).replace(f"    path: {path}\n", f"    path: {path}\n{helm_block}")


def common_chart(repo: ChartRepo, tmp_path: Path) -> None:
    repo.publish(write_chart(tmp_path / "published", "common", "1.0.0", {"cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ .Release.Name }}-common"}
        data: {from: dependency}
        """}))


WEB_TEMPLATES = {
    "settings.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ .Release.Name }}-settings"}
        data:
          color: {{ .Values.color | quote }}
          size: {{ .Values.size | quote }}
          flavor: {{ .Values.flavor | quote }}
          tag: {{ .Values.tag | quote }}
          namespace: {{ .Release.Namespace | quote }}
          kube: {{ .Capabilities.KubeVersion.Version | quote }}
          greeting: {{ .Files.Get "greeting.txt" | default .Values.greeting | quote }}
        """,
    "deploy.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: "{{ .Release.Name }}-web"}
        spec:
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: "registry.invalid/web:1"}]}
        """,
    "hook.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: "{{ .Release.Name }}-before"
          annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: "-1"}
        data: {phase: presync}
        """,
}


def web_repo(tmp_path: Path, repo_url: str) -> Repo:
    repo = Repo(tmp_path / "config")
    chart = write_chart(repo.root / "charts", "web", "0.1.0", WEB_TEMPLATES, values="""\
        color: red
        size: s
        flavor: plain
        replicas: 1
        tag: "1"
        greeting: none
        """, extra=f"""\
        dependencies:
          - name: common
            version: 1.0.0
            repository: {repo_url}
        """)
    (chart / "values-prod.yaml").write_text("color: blue\nflavor: vanilla\n")
    (chart / "envs").mkdir()
    (chart / "envs" / "a.yaml").write_text("size: m\n")
    (chart / "envs" / "b.yaml").write_text("size: l\n")
    repo.write("greeting.txt", "hello from a file\n")
    return repo


WEB_HELM = """\
    releaseName: shop
    valueFiles: [values-prod.yaml, "envs/*.yaml", missing.yaml]
    ignoreMissingValueFiles: true
    values: |
      flavor: chocolate
    valuesObject: {flavor: mint, replicas: 3}
    parameters:
      - {name: replicas, value: "2"}
      - {name: tag, value: "0123", forceString: true}
    fileParameters:
      - {name: greeting, path: /greeting.txt}
    """


def test_a_chart_in_git_renders_as_argo_cd_renders_it(cluster: Cluster, namespace: str, tmp_path: Path,
                                                      chart_repo: ChartRepo) -> None:
    common_chart(chart_repo, tmp_path)
    repo = web_repo(tmp_path, chart_repo.url)
    repo.write("apps/shop.yaml", helm_app("shop", "charts/web", namespace, WEB_HELM))
    repo.commit()

    code, out, err = sync(repo.root, "apps/shop.yaml")
    assert code == 0, err
    data = cluster.get("configmap", "-n", namespace, "shop-settings")["data"]
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert data == {"color": "blue", "size": "l", "flavor": "mint", "tag": "0123", "namespace": namespace,
                    "kube": version, "greeting": "hello from a file\n"}
    assert cluster.get("deployment", "-n", namespace, "shop-web")["spec"]["replicas"] == 2
    assert cluster.get("configmap", "-n", namespace, "shop-common")["data"] == {"from": "dependency"}
    assert cluster.get("configmap", "-n", namespace, "shop-before")["data"] == {"phase": "presync"}
    assert "PreSync" in out
    assert repo.status() == "", "the user's chart directory is left as it was"  # no charts/ built in it

    res = diff("apps/shop.yaml", cwd=repo.root)
    assert res.returncode == 0, res.stdout + res.stderr
    tgz_gets = [p for p in chart_repo.requests() if p.endswith(".tgz")]
    assert tgz_gets == ["/common-1.0.0.tgz"], "the dependency is built once, then served from the cache"


def test_a_chart_from_a_helm_repository(cluster: Cluster, namespace: str, tmp_path: Path,
                                        chart_repo: ChartRepo) -> None:
    chart_repo.publish(write_chart(tmp_path / "published", "greeting", "1.2.0", {"cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ .Release.Name }}"}
        data: {msg: {{ .Values.msg | quote }}}
        """}, values="msg: default\n"))
    repo = Repo(tmp_path / "config")
    repo.write("apps/hello.yaml", textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: hello}}
        spec:
          project: default
          source:
            repoURL: {chart_repo.url}
            chart: greeting
            targetRevision: 1.2.0
            helm:
              parameters: [{{name: msg, value: hi}}]
          destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
        """))
    repo.commit()
    code, _, err = sync(repo.root, "apps/hello.yaml")
    assert code == 0, err
    assert cluster.get("configmap", "-n", namespace, "hello")["data"] == {"msg": "hi"}
    for _ in range(2):
        res = diff("apps/hello.yaml", cwd=repo.root)
        assert res.returncode == 0, res.stdout + res.stderr
    assert [p for p in chart_repo.requests() if p.endswith(".tgz")] == ["/greeting-1.2.0.tgz"]


def test_app_of_apps_whose_root_is_a_helm_chart(cluster: Cluster, namespace: str, tmp_path: Path,
                                                helm: Path) -> None:
    repo = Repo(tmp_path / "config")
    write_chart(repo.root / "charts", "root", "0.1.0", {"apps.yaml": f"""\
        {{{{- range .Values.children }}}}
        ---
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: "child-{{{{ . }}}}"}}
        spec:
          project: default
          source: {{repoURL: {ORIGIN_URL}, targetRevision: HEAD, path: "children/{{{{ . }}}}"}}
          destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
        {{{{- end }}}}
        """}, values="children: [a, b]\n")
    for c in ("a", "b"):
        repo.write(f"children/{c}/cm.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{c}}}\n"
                                             f"data: {{child: {c}}}\n")
    repo.write("apps/root.yaml", application("root", "charts/root", namespace))
    repo.commit()
    code, _, err = sync(repo.root, "apps/root.yaml")
    assert code == 0, err
    for c in ("a", "b"):
        assert cluster.get("configmap", "-n", namespace, f"cm-{c}")["data"] == {"child": c}
    res = diff("apps/root.yaml", cwd=repo.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "child-a" in res.stdout and "child-b" in res.stdout


SLOW = "{{- range $i := until 10000 }}{{- range $j := until 10000 }}{{- end }}{{- end }}\n"
BAD = [
    ("valueFiles: [nope.yaml]\n", {}, "value file 'nope.yaml' does not exist"),
    ("valueFiles: [../../../../outside.yaml]\n", {}, "'../../../../outside.yaml' is outside the repository"),
    ("valueFiles: [$values/x.yaml]\n", {}, "no source has ref 'values'"),
    ("valueFiles: [https://example.com/v.yaml]\n", {}, "only files in the repository are read, not URLs"),
    ("fileParameters: [{name: a, path: ../../../../outside.yaml}]\n", {}, "is outside the repository"),
    ("version: v2\n", {}, "only Helm 3 (v3) is supported"),
    ("releaseName: shop\n", {"templates/broken.yaml": "{{ .Values.nope.deeper }}\n"},
     "helm template failed: Error: "),
    ("releaseName: shop\n", {"templates/slow.yaml": SLOW}, "helm template did not finish within 1s"),
]


@pytest.mark.parametrize(("helm_spec", "files", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_helm_input_exits_2_with_nothing_written(cluster: Cluster, namespace: str, tmp_path: Path,
                                                     helm: Path, helm_spec: str, files: dict[str, str],
                                                     message: str) -> None:
    (tmp_path / "outside.yaml").write_text("color: stolen\n")
    repo = Repo(tmp_path / "a" / "config")
    write_chart(repo.root / "charts", "web", "0.1.0", {"cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ .Release.Name }}-cm"}
        data: {color: {{ .Values.color | default "none" | quote }}}
        """})
    for rel, text in files.items():
        repo.write(f"charts/web/{rel}", text)
    repo.write("apps/web.yaml", helm_app("web", "charts/web", namespace, helm_spec))
    repo.commit()
    args = ("apps/web.yaml", "--render-timeout", "1s")
    assert message in error_of(diff(*args, cwd=repo.root))
    code, _, err = sync(repo.root, *args)
    assert code == 2 and message in err, err
    assert [c["metadata"]["name"] for c in cluster.get("configmaps", "-n", namespace)["items"]
            if c["metadata"]["name"].startswith("web")] == []


def test_missing_helm_is_one_clear_error(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    write_chart(repo.root / "charts", "web", "0.1.0", {})
    repo.write("apps/web.yaml", application("web", "charts/web", namespace))
    repo.commit()
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "helm").exists())
    err = error_of(diff("apps/web.yaml", cwd=repo.root, env={"PATH": path}))
    assert "rendering needs helm on PATH" in err and "install Helm 3" in err


def test_credentials_from_an_argo_cd_repository_secret_or_the_environment(
        cluster: Cluster, namespace: str, tmp_path: Path, private_chart_repo: ChartRepo) -> None:
    private_chart_repo.publish(write_chart(tmp_path / "published", "private", "0.1.0", {"cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ .Release.Name }}"}
        data: {from: private}
        """}))
    repo = Repo(tmp_path / "config")
    repo.write("apps/p.yaml", textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: priv}}
        spec:
          project: default
          source: {{repoURL: "{private_chart_repo.url}", chart: private, targetRevision: 0.1.0}}
          destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
        """))
    repo.commit()
    args = ("apps/p.yaml", "--config-namespace", namespace)
    assert "helm pull private 0.1.0" in error_of(diff(*args, cwd=repo.root, env={"HELM_REPO_USERNAME": ""}))

    cluster.kubectl("apply", "-f", "-", stdin=textwrap.dedent(f"""\
        apiVersion: v1
        kind: Secret
        metadata:
          name: private-charts
          namespace: {namespace}
          labels: {{argocd.argoproj.io/secret-type: repository}}
        stringData: {{type: helm, url: "{private_chart_repo.url}", username: {PRIVATE_USER},
                     password: {PRIVATE_PASSWORD}}}
        """))
    code, out, err = sync(repo.root, *args)
    assert code == 0, err
    assert cluster.get("configmap", "-n", namespace, "priv")["data"] == {"from": "private"}
    assert any(r.endswith(".tgz authorized") for r in private_chart_repo.requests())
    assert PRIVATE_PASSWORD not in out + err
    for f in (tmp_path / "cache").rglob("*"):
        assert not f.is_file() or PRIVATE_PASSWORD.encode() not in f.read_bytes(), f

    cluster.kubectl("delete", "secret", "-n", namespace, "private-charts")
    (tmp_path / "cache").rename(tmp_path / "cache-before")  # pull again, now with credentials from env
    res = diff(*args, cwd=repo.root, env={"HELM_REPO_USERNAME": PRIVATE_USER, "HELM_REPO_PASSWORD": PRIVATE_PASSWORD})
    assert res.returncode == 0, res.stderr
