"""Jsonnet directory apps, `source.kustomize` options and multi-source Applications against the real
control plane; each syncs, diffs clean afterwards, and each bad input exits 2 with nothing written."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import ORIGIN_URL, Repo, application, configmap, diff, error_of, sync
from helm_helpers import write_chart


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def with_source(app: str, path: str, block: str) -> str:
    """`app` (an Application) with `block` added under its spec.source."""
    return app.replace(f"    path: {path}\n", f"    path: {path}\n{textwrap.indent(textwrap.dedent(block), '    ')}")


def synced_then_clean(cluster: Cluster, cwd: Path, target: str) -> str:
    code, out, err = sync(cwd, target)
    assert code == 0, out + err
    res = diff(target, cwd=cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    return err


def nothing_named(cluster: Cluster, namespace: str, prefix: str) -> None:
    names = [o["metadata"]["name"] for kind in ("configmaps", "deployments")
             for o in cluster.get(kind, "-n", namespace)["items"]]
    assert not [n for n in names if n.startswith(prefix)], names


# -- Jsonnet ----------------------------------------------------------------------------------------

JSONNET = {
    "jlib/k8s.libsonnet": "{ cm(name, data):: {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: name}, "
                          "data: data} }\n",
    "shared/defaults.libsonnet": "{ owner: 'platform' }\n",
    "app/main.jsonnet": textwrap.dedent("""\
        local k8s = import 'k8s.libsonnet';
        local defaults = import '../shared/defaults.libsonnet';
        function(replicas=1, flavor='plain') [
          k8s.cm(std.extVar('env') + '-settings', {
            flavor: flavor, replicas: std.toString(replicas), owner: defaults.owner,
            debug: std.toString(std.extVar('debug')),
          }),
        ]
        """),
    "app/plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {from: yaml}\n",
}
JSONNET_OPTIONS = """\
    directory:
      jsonnet:
        libs: [jlib]
        extVars: [{name: env, value: dev}, {name: debug, value: "{a: 1}", code: true}]
        tlas: [{name: replicas, value: "3", code: true}, {name: flavor, value: mint}]
    """


def test_jsonnet_app_with_ext_vars_tlas_and_libs(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    for rel, text in JSONNET.items():
        repo.write(rel, text)
    repo.write("apps/j.yaml", with_source(application("j", "app", namespace), "app", JSONNET_OPTIONS))
    repo.commit()
    synced_then_clean(cluster, repo.root, "apps/j.yaml")
    assert cluster.get("configmap", "-n", namespace, "dev-settings")["data"] == {
        "flavor": "mint", "replicas": "3", "owner": "platform", "debug": '{"a": 1}'}
    assert cluster.get("configmap", "-n", namespace, "plain")["data"] == {"from": "yaml"}
    res = diff("apps/j.yaml", "--revision", "main", cwd=repo.root)  # from the object database too
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(("files", "message"), [
    ({"app/main.jsonnet": "{\n  a: 1,\n  b: ,\n}\n"}, "app/main.jsonnet:3"),
    ({"app/main.jsonnet": "{\n  a: error 'boom',\n}\n"}, "boom"),
    ({"app/main.jsonnet": "import '../../../outside.libsonnet'\n"}, "is outside the repository"),
    ({"app/main.jsonnet": "import 'nowhere.libsonnet'\n"}, "nowhere.libsonnet"),
], ids=["syntax", "error", "outside", "missing"])
def test_bad_jsonnet_exits_2_naming_file_and_line(cluster: Cluster, namespace: str, tmp_path: Path,
                                                  files: dict[str, str], message: str) -> None:
    (tmp_path / "outside.libsonnet").write_text("{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}}")
    repo = Repo(tmp_path / "a" / "config")
    repo.write("app/cm.yaml", configmap(namespace, "j-cm", {"a": "1"}))
    for rel, text in files.items():
        repo.write(rel, text)
    repo.write("apps/j.yaml", application("j", "app", namespace))
    repo.commit()
    assert message in error_of(diff("apps/j.yaml", cwd=repo.root))
    code, _, err = sync(repo.root, "apps/j.yaml")
    assert code == 2 and message in err
    nothing_named(cluster, namespace, "j-")


# -- Kustomize options ------------------------------------------------------------------------------

KUSTOMIZE_APP = {
    "app/kustomization.yaml": "resources: [deploy.yaml]\ncommonLabels: {tier: web}\n",
    "app/deploy.yaml": textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: "registry.invalid/web:1.0"}]}
        """),
    "components/audit/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                           "commonAnnotations: {audited: 'yes'}\n",
}
KUSTOMIZE_OPTIONS = """\
    kustomize:
      images: ["registry.invalid/web:2.0"]
      namePrefix: p-
      nameSuffix: -x
      commonLabels: {team: a}
      commonAnnotations: {owner: "${ARGOCD_APP_NAME}-owners"}
      commonAnnotationsEnvsubst: true
      replicas: [{name: web, count: 2}]
      components: [../components/audit]
      patches:
        - target: {kind: Deployment}
          patch: '[{"op": "add", "path": "/spec/minReadySeconds", "value": 5}]'
    """


def test_kustomize_options_on_a_copy_never_the_users_files(cluster: Cluster, namespace: str,
                                                           tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    for rel, text in KUSTOMIZE_APP.items():
        repo.write(rel, text)
    repo.write("apps/k.yaml", with_source(application("kapp", "app", namespace), "app", KUSTOMIZE_OPTIONS))
    repo.commit()
    synced_then_clean(cluster, repo.root, "apps/k.yaml")
    d = cluster.get("deployment", "-n", namespace, "p-web-x")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/web:2.0"
    assert d["spec"]["replicas"] == 2 and d["spec"]["minReadySeconds"] == 5
    assert d["metadata"]["labels"] == {"team": "a", "tier": "web"}
    assert d["metadata"]["annotations"]["owner"] == "kapp-owners"
    assert d["metadata"]["annotations"]["audited"] == "yes"
    assert repo.status() == ""


@pytest.mark.parametrize(("options", "message"), [
    ("kustomize: {version: v0.0.1}\n", "source.kustomize.version 'v0.0.1' cannot be honoured"),
    ("kustomize: {commonLabels: {tier: api}}\n", "'tier' is already set in the kustomization"),
    ("kustomize: {components: [../nowhere]}\n", "../nowhere"),
    ("kustomize: {components: [../../../outside]}\n", "is outside the repository"),
    ("kustomize: {patches: [{path: ../../../outside/p.yaml}]}\n", "is outside the repository"),
    ("helm: {releaseName: x}\n", "source.helm is set, but 'app' is a kustomize source"),
    ("plugin: {}\n", "config management plugins are not supported"),
], ids=["version", "label-clash", "missing-component", "component-outside", "patch-outside", "wrong-type",
        "plugin"])
def test_bad_kustomize_options_exit_2(cluster: Cluster, namespace: str, tmp_path: Path, options: str,
                                      message: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "p.yaml").write_text("[]\n")
    repo = Repo(tmp_path / "a" / "config")
    for rel, text in KUSTOMIZE_APP.items():
        repo.write(rel, text)
    repo.write("apps/k.yaml", with_source(application("kapp", "app", namespace), "app", options))
    repo.commit()
    assert message in error_of(diff("apps/k.yaml", cwd=repo.root))
    code, _, err = sync(repo.root, "apps/k.yaml")
    assert code == 2 and message in err
    nothing_named(cluster, namespace, "web")


# -- multi-source -----------------------------------------------------------------------------------

def test_multi_source_with_values_ref_and_a_duplicate(cluster: Cluster, namespace: str, tmp_path: Path,
                                                      helm: Path) -> None:
    repo = Repo(tmp_path / "config")
    write_chart(repo.root / "charts", "web", "0.1.0", {"cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ .Release.Name }}-settings"}
        data: {color: {{ .Values.color | quote }}}
        """}, values="color: red\n")
    repo.write("envs/prod/values.yaml", "color: blue\n")
    repo.write("extra/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: '1'}\n")
    repo.write("extra/dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: multi-settings}\n"
                                 "data: {color: from-extra}\n")
    repo.write("apps/multi.yaml", textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: multi}}
        spec:
          project: default
          sources:
            - repoURL: {ORIGIN_URL}
              path: charts/web
              targetRevision: HEAD
              helm: {{valueFiles: [$values/envs/prod/values.yaml]}}
            - {{repoURL: {ORIGIN_URL}, targetRevision: HEAD, ref: values}}
            - {{repoURL: {ORIGIN_URL}, targetRevision: HEAD, path: extra}}
          destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
        """))
    repo.commit()
    err = synced_then_clean(cluster, repo.root, "apps/multi.yaml")
    assert "ConfigMap multi-settings comes from more than one source" in err
    assert cluster.get("configmap", "-n", namespace, "multi-settings")["data"] == {"color": "from-extra"}
    assert cluster.get("configmap", "-n", namespace, "extra")["data"] == {"a": "1"}
    doc = json.loads(diff("apps/multi.yaml", "-o", "json", cwd=repo.root).stdout)
    origins = {r["name"]: r["origin"] for r in doc["apps"][0]["resources"]}
    assert origins["extra"].endswith("extra/cm.yaml (spec.sources[2])")

    repo.write("extra/dup.yaml", "")
    repo.commit("no duplicate")
    synced_then_clean(cluster, repo.root, "apps/multi.yaml")
    assert cluster.get("configmap", "-n", namespace, "multi-settings")["data"] == {"color": "blue"}


def test_a_directory_no_renderer_reads_is_an_error(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("app/README.md", "# nothing to deploy\n")
    repo.write("app/main.libsonnet", "{}\n")
    repo.write("apps/x.yaml", application("x", "app", namespace))
    repo.commit()
    err = error_of(diff("apps/x.yaml", cwd=repo.root))
    assert "app renders nothing, and no renderer reads its files (README.md)" in err
