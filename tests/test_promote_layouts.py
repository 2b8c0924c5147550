"""`git promote` on the layouts config repositories really have, run through git (`git promote …`):
one app per repository, <svc>/overlays/<env>, Helm values files, Application sources, digests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from test_promote import git, git_env, init_repo  # noqa: F401  (git_env: autouse fixture, isolated git)

DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER = "sha256:" + "fedcba9876543210" * 4
BASE = {"base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: myapp\n"}


def kustomization(tag: str, *, image: str = "registry.example/myapp", extra: str = "") -> str:
    return ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n"
            f"images:\n  - name: {image}\n    newTag: \"{tag}\"  # set by CI\n{extra}")


def make(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "myapp-config"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return init_repo(repo, "config")


def gp(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git promote …` as a user types it: git finds git-promote on PATH."""
    return subprocess.run(["git", "promote", *args], cwd=repo, text=True, capture_output=True)


def changed(repo: Path) -> list[str]:
    return git(repo, "diff", "--name-only", "HEAD~1", "HEAD").split()


def state(repo: Path) -> tuple[str, str]:
    return git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")


# --- Kustomize ---------------------------------------------------------------------------------------


def test_one_app_per_repository_needs_no_configuration(tmp_path: Path) -> None:
    repo = make(tmp_path, {**BASE, "overlays/dev/kustomization.yaml": kustomization("1.2.0"),
                           "overlays/staging/kustomization.yaml": kustomization("1.1.0"),
                           "overlays/prod/kustomization.yaml": kustomization("1.0.0")})
    status = gp(repo, "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "dev", "staging", "prod"]  # no service column for one app
    assert lines[1].split() == ["registry.example/myapp", "1.2.0", "1.1.0", "*", "1.0.0", "*"]
    assert lines[-1] == "layout: overlays/<env> (one app per repository)"

    before = (repo / "overlays/prod/kustomization.yaml").read_text()
    result = gp(repo, "prod")
    assert result.returncode == 0, result.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote staging → prod: myapp 1.1.0"
    assert (repo / "overlays/prod/kustomization.yaml").read_text() == before.replace('"1.0.0"', '"1.1.0"')
    assert changed(repo) == ["overlays/prod/kustomization.yaml"]

    assert gp(repo, "set-image", "registry.example/myapp=1.3.0").returncode == 0
    assert git(repo, "log", "-1", "--format=%s").strip() == "set-image dev: myapp 1.3.0"
    assert changed(repo) == ["overlays/dev/kustomization.yaml"]
    assert gp(repo, "undo", "dev").returncode == 0
    assert '"1.2.0"' in (repo / "overlays/dev/kustomization.yaml").read_text()
    unknown = gp(repo, "prod", "--service", "api")
    assert unknown.returncode == 2
    assert "unknown service 'api'; known: none (this repository holds one app)" in unknown.stderr


def test_service_overlays_at_the_root(tmp_path: Path) -> None:
    files = {}
    for svc in ("api", "web"):
        files[f"{svc}/base/kustomization.yaml"] = "resources: []\n"
        for env, tag in (("dev", "2.0.0"), ("staging", "1.9.0"), ("prod", "1.8.0")):
            files[f"{svc}/overlays/{env}/kustomization.yaml"] = kustomization(tag, image=f"registry.example/{svc}")
    repo = make(tmp_path, files)
    assert gp(repo, "status").stdout.splitlines()[-1] == "layout: <svc>/overlays/<env>"
    result = gp(repo, "prod", "--service", "web")
    assert result.returncode == 0, result.stderr
    assert changed(repo) == ["web/overlays/prod/kustomization.yaml"]
    assert gp(repo, "prod").returncode == 0
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote staging → prod: api 1.9.0"


@pytest.mark.parametrize("root", ["envs", "environments"])
def test_env_directories_with_and_without_services(tmp_path: Path, root: str) -> None:
    files = {f"{root}/{env}/{svc}/kustomization.yaml": kustomization(tag, image=f"r.example/{svc}")
             for svc in ("api", "web") for env, tag in (("dev", "2"), ("prod", "1"))}
    repo = make(tmp_path, files)
    assert gp(repo, "prod").returncode == 0
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote dev → prod: api 2, web 2"
    one = make(tmp_path / "one", {f"clusters/{env}/shop/kustomization.yaml": kustomization(tag)
                                  for env, tag in (("qa", "3"), ("production", "1"))})
    assert gp(one, "status").stdout.splitlines()[-1] == "layout: clusters/<env>/<svc>"
    assert gp(one, "production").returncode == 0
    assert git(one, "log", "-1", "--format=%s").strip() == "promote qa → production: shop 3"


def test_digests_promote_as_digests(tmp_path: Path) -> None:
    staging = ("images:\n  - name: registry.example/myapp\n"
               f"    digest: {DIGEST}  # built from 1.4.0\n  - name: registry.example/sidecar\n"
               f"    newTag: \"1.0@{OTHER}\"\n")
    prod = "images:\n  - name: registry.example/myapp\n    newTag: \"1.3.0\"\n"
    repo = make(tmp_path, {"overlays/staging/kustomization.yaml": staging,
                           "overlays/prod/kustomization.yaml": prod})
    result = gp(repo, "prod")
    assert result.returncode == 0, result.stderr
    assert (repo / "overlays/prod/kustomization.yaml").read_text() == (
        f"images:\n  - name: registry.example/myapp\n    digest: {DIGEST}\n"
        f"  - name: registry.example/sidecar\n    newTag: 1.0@{OTHER}\n")
    assert git(repo, "log", "-1", "--format=%(trailers:key=Image,valueonly)").split() == [
        f"registry.example/myapp@{DIGEST}", f"registry.example/sidecar:1.0@{OTHER}"]
    assert git(repo, "log", "-1", "--format=%s").strip() == (
        "promote staging → prod: myapp @sha256:0123456789ab, sidecar 1.0@sha256:fedcba987654")
    # set-image with a digest replaces the tag by the digest, never the other way round
    assert gp(repo, "set-image", f"sidecar@{DIGEST}", "--env", "staging").returncode == 0
    assert f"    digest: {DIGEST}\n" in (repo / "overlays/staging/kustomization.yaml").read_text().split(
        "sidecar\n")[1]


# --- Helm values -------------------------------------------------------------------------------------


def values(tag: str, comment: str = "# the image CI builds") -> str:
    return f"replicaCount: 2\nimage:\n  repository: registry.example/shop  {comment}\n  tag: \"{tag}\"\n"


def test_helm_values_files_per_environment(tmp_path: Path) -> None:
    repo = make(tmp_path, {"Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
                           "values.yaml": values("0.0.0"), "templates/deploy.yaml": "{{ .Values.image.tag }}\n",
                           "values-dev.yaml": values("2.1.0"), "values-staging.yaml": values("2.0.0"),
                           "values-prod.yaml": values("1.9.0")})
    status = gp(repo, "status", "-o", "json")
    data = json.loads(status.stdout)
    assert data["layout"] == "[<svc>/]values-<env>.yaml (Helm)"
    assert data["services"][0]["kind"] == "values"
    assert data["services"][0]["environments"]["prod"]["tag"] == "1.9.0"
    before = (repo / "values-prod.yaml").read_text()
    result = gp(repo, "prod")
    assert result.returncode == 0, result.stderr
    assert (repo / "values-prod.yaml").read_text() == before.replace('"1.9.0"', '"2.0.0"')
    assert changed(repo) == ["values-prod.yaml"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote staging → prod: shop 2.0.0"

    assert gp(repo, "set-image", "registry.example/shop=2.2.0").returncode == 0
    assert 'tag: "2.2.0"' in (repo / "values-dev.yaml").read_text()
    assert changed(repo) == ["values-dev.yaml"]
    # no digest key in these values: the digest goes into the tag, which the chart puts after the colon
    assert gp(repo, "set-image", f"shop=2.2.1@{DIGEST}").returncode == 0
    assert f'tag: "2.2.1@{DIGEST}"' in (repo / "values-dev.yaml").read_text()
    alone = gp(repo, "set-image", f"shop@{DIGEST}")
    assert alone.returncode == 2
    assert alone.stderr.startswith("error: values image has no digest key")


def test_configured_helm_keys_and_env_directories(tmp_path: Path) -> None:
    def env_values(api: str, worker: str) -> str:
        return (f"api:\n  image:\n    repository: r.example/api\n    tag: {api}\n"
                f"worker:\n  image: {{repository: r.example/worker, tag: '{worker}', digest: {DIGEST}}}\n")
    repo = make(tmp_path, {".gitops/promotion.yaml": "helm:\n  imageKeys: [api.image.tag, worker.image.tag]\n",
                           "envs/dev/values.yaml": env_values("v2", "7"),
                           "envs/prod/values.yaml": env_values("v1", "6")})
    result = gp(repo, "prod")
    assert result.returncode == 0, result.stderr
    assert (repo / "envs/prod/values.yaml").read_text() == env_values("v2", "7")
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote dev → prod: api v2, worker 7@sha256:0123456789ab"


# --- Application files -------------------------------------------------------------------------------


def application(env: str, chart: str) -> str:
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-{env}
  namespace: argocd
spec:
  project: default
  sources:
    - repoURL: https://charts.example.com
      chart: shop
      targetRevision: {chart}   # chart version
      helm:
        valueFiles:
          - $values/envs/{env}/values.yaml
    - repoURL: https://git.example.com/shop-config.git
      targetRevision: main
      ref: values
  destination:
    server: https://kubernetes.default.svc
    namespace: shop-{env}
"""


def test_application_chart_version_and_its_value_files(tmp_path: Path) -> None:
    files = {}
    for env, chart, tag in (("dev", "1.5.0", "3.0.0"), ("staging", "1.4.0", "2.0.0"), ("prod", "1.3.0", "1.0.0")):
        files[f"envs/{env}/application.yaml"] = application(env, chart)
        files[f"envs/{env}/values.yaml"] = values(tag)
    repo = make(tmp_path, files)
    lines = gp(repo, "status").stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "dev", "staging", "prod"]
    assert lines[1].split() == ["shop", "1.5.0", "1.4.0", "*", "1.3.0", "*"]
    assert lines[2].split() == ["https://git.example.com/shop-config", "main", "main", "main"]
    assert lines[3].split() == ["registry.example/shop", "3.0.0", "2.0.0", "*", "1.0.0", "*"]
    before = {p: (repo / f"envs/prod/{p}").read_text() for p in ("application.yaml", "values.yaml")}
    result = gp(repo, "prod")
    assert result.returncode == 0, result.stderr
    assert (repo / "envs/prod/application.yaml").read_text() == before["application.yaml"].replace(
        "targetRevision: 1.3.0   #", "targetRevision: 1.4.0   #")
    assert (repo / "envs/prod/values.yaml").read_text() == before["values.yaml"].replace('"1.0.0"', '"2.0.0"')
    assert changed(repo) == ["envs/prod/application.yaml", "envs/prod/values.yaml"]
    assert git(repo, "log", "-1", "--format=%(trailers:key=Revision,valueonly)").split() == ["shop@1.4.0"]
    assert git(repo, "log", "-1", "--format=%(trailers:key=Image,valueonly)").split() == [
        "registry.example/shop:2.0.0"]
    status = json.loads(gp(repo, "status", "-o", "json").stdout)
    assert status["lastChanges"]["prod"]["kind"] == "promote"
    assert gp(repo, "undo", "prod").returncode == 0
    assert {p: (repo / f"envs/prod/{p}").read_text() for p in before} == before

    result = gp(repo, "set-image", "shop=1.6.0", "--env", "dev")
    assert result.returncode == 0, result.stderr
    assert "targetRevision: 1.6.0   # chart version" in (repo / "envs/dev/application.yaml").read_text()
    digest = gp(repo, "set-image", f"https://charts.example.com@{DIGEST}")
    assert digest.returncode == 2


def test_application_target_revision_of_a_git_source(tmp_path: Path) -> None:
    def app(rev: str, env: str) -> str:
        return ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: myapp}\nspec:\n"
                "  source:\n    repoURL: git@git.example.com:team/myapp-config.git\n"
                f"    path: overlays/{env}\n    targetRevision: {rev}\n")
    repo = make(tmp_path, {"apps/myapp/overlays/staging/app.yaml": app("v1.4.2", "staging"),
                           "apps/myapp/overlays/prod/app.yaml": app("v1.4.1", "prod")})
    result = gp(repo, "prod")
    assert result.returncode == 0, result.stderr
    assert (repo / "apps/myapp/overlays/prod/app.yaml").read_text() == app("v1.4.2", "prod")
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote staging → prod: myapp v1.4.2"
    (repo / "apps/myapp/overlays/staging/app.yaml").write_text(app("HEAD", "staging"))
    git(repo, "commit", "-qam", "staging tracks HEAD")
    floating = gp(repo, "prod")
    assert floating.returncode == 2
    assert "tracks HEAD" in floating.stderr


# --- configuration and refusals ----------------------------------------------------------------------


def test_configured_paths_and_pattern_without_service(tmp_path: Path) -> None:
    config = ("environments:\n  - name: dev\n    path: deploy/development\n"
              "  - name: live\n    path: deploy/production-eu\n")
    repo = make(tmp_path, {".gitops/promotion.yaml": config,
                           "deploy/development/kustomization.yaml": kustomization("5"),
                           "deploy/production-eu/kustomization.yaml": kustomization("4")})
    assert gp(repo, "live").returncode == 0
    assert changed(repo) == ["deploy/production-eu/kustomization.yaml"]
    other = make(tmp_path / "other", {".gitops/promotion.yaml": "environments: [test, prod]\noverlays: k8s/{env}\n",
                                      "k8s/test/kustomization.yaml": kustomization("5"),
                                      "k8s/prod/kustomization.yaml": kustomization("4")})
    assert gp(other, "status").stdout.splitlines()[-1] == "layout: k8s/{env} (from .gitops/promotion.yaml)"
    assert gp(other, "prod").returncode == 0


def test_two_layouts_at_once_is_one_clear_message(tmp_path: Path) -> None:
    repo = make(tmp_path, {"overlays/dev/kustomization.yaml": kustomization("2"),
                           "overlays/prod/kustomization.yaml": kustomization("1"),
                           "api/overlays/dev/kustomization.yaml": kustomization("2"),
                           "api/overlays/prod/kustomization.yaml": kustomization("1")})
    before = state(repo)
    result = gp(repo, "prod")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: this repository matches 2 layouts: overlays/<env> (one app per repository), e.g. "
        "overlays/dev/kustomization.yaml; <svc>/overlays/<env>, e.g. api/overlays/dev/kustomization.yaml",
        "hint: say which one in .gitops/promotion.yaml, e.g. `overlays: {service}/overlays/{env}`"]
    assert state(repo) == before
    none = make(tmp_path / "none", {"README.md": "hello\n"})
    result = gp(none, "status")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no environments found; looked for overlays/<env> (one app per "
                                    "repository), <svc>/overlays/<env>, services|apps/<svc>/overlays/<env>, "
                                    "envs|environments/<env>[/<svc>], clusters/<env>/<svc>, "
                                    "[<svc>/]values-<env>.yaml (Helm)\n")
