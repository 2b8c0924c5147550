"""Pure pieces of the renderers, without a cluster: image specs as `kustomize edit set image` reads
them, envsubst, Helm repository URLs without their credentials, and which symlinks a revision keeps."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from gitrepo import git, make_repo
from kubectl_gitops.render.helmchart import Repo
from kubectl_gitops.render.kustomize_edit import envsubst, parse_image
from kubectl_gitops.source import open_local
from kubectl_gitops.trees import _link_stays_inside


@pytest.mark.parametrize(("spec", "entry"), [
    ("nginx:1.25", {"name": "nginx", "newTag": "1.25"}),
    ("nginx=registry.invalid/nginx:2", {"name": "nginx", "newName": "registry.invalid/nginx", "newTag": "2"}),
    ("registry.invalid:5000/web:3", {"name": "registry.invalid:5000/web", "newTag": "3"}),
    ("web=web@sha256:abc", {"name": "web", "digest": "sha256:abc"}),
    ("registry.invalid:5000/web", {"name": "registry.invalid:5000/web"}),
])
def test_image_specs(spec: str, entry: dict[str, str]) -> None:
    assert parse_image(spec, "x") == entry


def test_envsubst_reads_only_the_build_environment() -> None:
    env = {"ARGOCD_APP_NAME": "web"}
    assert envsubst("${ARGOCD_APP_NAME}-$ARGOCD_APP_NAME/$HOME", env) == "web-web/"


def test_helm_repository_credentials_are_not_part_of_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELM_REPO_USERNAME", raising=False)
    repo = Repo.parse("https://alice:s3cret@charts.example.com:8443/stable/")
    assert (repo.url, repo.username, repo.password) == ("https://charts.example.com:8443/stable", "alice", "s3cret")
    assert Repo.parse("oci://registry.example.com/charts").oci


@pytest.mark.parametrize(("link_dir", "target", "inside"), [
    ("", "a/b", True), ("app", "../shared/cm.yaml", True), ("app", "../../x", False), ("", "/etc/passwd", False),
    ("a/b", "../../c", True), ("a/b", "../../../c", False), ("", "./x/../y", True),
])
def test_which_symlinks_stay_inside(link_dir: str, target: str, inside: bool) -> None:
    assert _link_stays_inside(PurePosixPath(link_dir), target) is inside


def test_a_revision_in_the_cache_keeps_only_links_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = make_repo(tmp_path / "r", {"app/cm.yaml": "x: 1\n"})
    for name, target in (("in.yaml", "cm.yaml"), ("abs.yaml", "/etc/hostname"), ("up.yaml", "../../x"),
                         ("via.yaml", "../loop/../../x")):
        os.symlink(target, repo / "app" / name)
    os.symlink(".", repo / "loop")
    git(repo, "add", "-A")
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "links"],
                   check=True)
    local = open_local(repo)
    assert local is not None
    tree = local.revision("main")
    assert tree.escapes == {"app/abs.yaml", "app/up.yaml", "app/via.yaml"}
    assert sorted(p.name for p in (tree.root / "app").iterdir()) == ["cm.yaml", "in.yaml"]


def test_helm_template_arguments_follow_argo_cd(tmp_path: Path) -> None:
    from kubectl_gitops.appsource import Helm, HelmParameter, Source
    from kubectl_gitops.render import Request
    from kubectl_gitops.render.helm import template_args
    from kubectl_gitops.render.helmchart import HelmHome
    from kubectl_gitops.trees import Tree

    chart = tmp_path / "repo" / "chart"
    chart.mkdir(parents=True)
    (chart / "values-a.yaml").write_text("a: 1\n")
    (chart / "values-b.yaml").write_text("b: 1\n")
    h = Helm(release_name="rel", value_files=("values-*.yaml",), values="x: 1\n", values_object='{"y": 2}',
             parameters=(HelmParameter("p", "1"), HelmParameter("s", "007", force_string=True)),
             skip_crds=True, skip_tests=True, skip_schema_validation=True, namespace="other",
             kube_version="v1.30.0", api_versions=("example.com/v1",))
    req = Request(Tree(tmp_path / "repo", None, "work tree"), "chart", Source("", "chart", helm=h), app_name="app",
                  namespace="dest")
    home = HelmHome("helm", "x", 1.0, tmp_path, False)
    args = template_args(req, h, home, chart, chart)
    assert args == ["template", "rel", str(chart), "--namespace", "other", "--kube-version", "v1.30.0",
                    "--api-versions", "example.com/v1",
                    "--values", str(chart / "values-a.yaml"), "--values", str(chart / "values-b.yaml"),
                    "--values", str(tmp_path / "values.yaml"), "--values", str(tmp_path / "values-object.yaml"),
                    "--set", "p=1", "--set-string", "s=007", "--skip-tests", "--skip-schema-validation"]
    plain = template_args(req, Helm(kube_version="v1", api_versions=("v1",)), home, chart, chart)
    assert plain[:5] == ["template", "app", str(chart), "--namespace", "dest"] and "--include-crds" in plain


def test_confine_files_refuses_what_resolves_outside(tmp_path: Path) -> None:
    """The batch form of confine: a plain file is inside when its directory is; a symlinked file, or a
    file under a symlinked directory, is resolved and refused when it lands outside."""
    from kubectl_gitops.errors import GitopsError
    from kubectl_gitops.render.paths import confine_files
    from kubectl_gitops.trees import Tree

    outside, root = tmp_path / "outside", tmp_path / "repo"
    (outside / "dir").mkdir(parents=True)
    (outside / "x.yaml").write_text("{}")
    (outside / "dir" / "y.yaml").write_text("{}")
    app = root / "app"
    app.mkdir(parents=True)
    (app / "a.yaml").write_text("{}")
    (app / "in.yaml").symlink_to(app / "a.yaml")
    (app / "out.yaml").symlink_to(outside / "x.yaml")
    (app / "sub").symlink_to(outside / "dir")
    tree = Tree(root=root, tree_id=None, label="repo")
    confine_files(tree, [app / "a.yaml", app / "in.yaml"], "manifest", "app")
    for bad in (app / "out.yaml", app / "sub" / "y.yaml"):
        with pytest.raises(GitopsError, match="is outside the repository"):
            confine_files(tree, [app / "a.yaml", bad], "manifest", "app")
