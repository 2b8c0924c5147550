"""AppProject parsing and permission checks (pure): Argo CD's rules for repos, destinations, kinds."""

from __future__ import annotations

import pytest

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.project import (
    Destination,
    app_destination,
    app_violations,
    destination_permitted,
    implicit_default,
    kind_permitted,
    normalize_repo_url,
    parse_project,
    resource_violation,
    source_permitted,
)


def proj(**spec: object):
    return parse_project({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                          "metadata": {"name": "team"}, "spec": spec}, "apps/project.yaml")


@pytest.mark.parametrize(("url", "normalized"), [
    ("https://GitHub.com/Org/Repo.git", "https://github.com/org/repo"),
    ("git@github.com:org/repo.git", "git@github.com/org/repo"),
    ("ssh://git@github.com/org/repo", "git@github.com/org/repo"),
    ("  https://x/y  ", "https://x/y"),
])
def test_normalize_repo_url(url: str, normalized: str) -> None:
    assert normalize_repo_url(url) == normalized


def test_source_repos_globs_and_negation() -> None:
    p = proj(sourceRepos=["https://git.example.com/platform/*", "!https://git.example.com/platform/secret"])
    assert source_permitted(p, "https://git.example.com/platform/api.git")
    assert not source_permitted(p, "https://git.example.com/platform/secret")
    # As Argo CD's IsSourcePermitted: a `!` rule that does not reject a repo counts as a match.
    assert source_permitted(p, "https://git.example.com/other/api")
    allow = proj(sourceRepos=["https://git.example.com/platform/*"])
    assert not source_permitted(allow, "https://git.example.com/platform/a/b")  # * does not cross /
    assert not source_permitted(allow, "https://git.example.com/other/api")
    assert source_permitted(proj(sourceRepos=["*"]), "https://anything/a/b/c")
    assert not source_permitted(proj(), "https://git.example.com/platform/api")
    assert source_permitted(proj(sourceRepos=["git@github.com:org/*"]), "git@github.com:org/app.git")


def test_bang_star_is_invalid() -> None:
    with pytest.raises(GitopsError, match=r"apps/project.yaml: AppProject team: spec.sourceRepos.*'!\*'"):
        proj(sourceRepos=["!*"])
    with pytest.raises(GitopsError, match=r"destinations\[0\].namespace has an invalid format"):
        proj(destinations=[{"server": "*", "namespace": "!*"}])


def test_destinations() -> None:
    p = proj(destinations=[{"server": "https://kubernetes.default.svc", "namespace": "*-dev"},
                           {"name": "prod", "namespace": "shop"}])
    assert destination_permitted(p, Destination("https://kubernetes.default.svc", "", "api-dev"))
    assert not destination_permitted(p, Destination("https://kubernetes.default.svc", "", "api-prod"))
    assert destination_permitted(p, Destination("", "prod", "shop"))
    assert not destination_permitted(p, Destination("https://other", "", "api-dev"))


def test_destination_negation_rejects_outright() -> None:
    p = proj(destinations=[{"server": "*", "namespace": "*"}, {"server": "*", "namespace": "!kube-system"}])
    assert destination_permitted(p, Destination("https://x", "", "web"))
    assert not destination_permitted(p, Destination("https://x", "", "kube-system"))


def test_namespaced_kinds_missing_vs_empty_whitelist() -> None:
    assert kind_permitted(proj(), "apps", "Deployment", "", namespaced=True)  # missing: all
    assert not kind_permitted(proj(namespaceResourceWhitelist=[]), "apps", "Deployment", "", namespaced=True)
    listed = proj(namespaceResourceWhitelist=[{"group": "apps", "kind": "*"}],
                  namespaceResourceBlacklist=[{"group": "apps", "kind": "DaemonSet"}])
    assert kind_permitted(listed, "apps", "Deployment", "", namespaced=True)
    assert not kind_permitted(listed, "apps", "DaemonSet", "", namespaced=True)
    assert not kind_permitted(listed, "", "ConfigMap", "", namespaced=True)


def test_cluster_kinds_need_a_whitelist() -> None:
    assert not kind_permitted(proj(), "", "Namespace", "web", namespaced=False)  # missing: none
    assert not kind_permitted(proj(clusterResourceWhitelist=[]), "", "Namespace", "web", namespaced=False)
    p = proj(clusterResourceWhitelist=[{"group": "", "kind": "Namespace"},
                                       {"group": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                        "name": "team-*"}],
             clusterResourceBlacklist=[{"group": "", "kind": "Namespace", "name": "kube-*"}])
    assert kind_permitted(p, "", "Namespace", "web", namespaced=False)
    assert not kind_permitted(p, "", "Namespace", "kube-public", namespaced=False)
    assert kind_permitted(p, "rbac.authorization.k8s.io", "ClusterRole", "team-read", namespaced=False)
    assert not kind_permitted(p, "rbac.authorization.k8s.io", "ClusterRole", "admin", namespaced=False)
    assert kind_permitted(implicit_default(), "storage.k8s.io", "StorageClass", "x", namespaced=False)


def test_violation_messages_are_argo_cds() -> None:
    p = proj(sourceRepos=["https://git.example.com/*"],
             destinations=[{"server": "https://kubernetes.default.svc", "namespace": "web"}])
    dest = Destination("https://kubernetes.default.svc", "", "web")
    assert resource_violation(p, group="", kind="Namespace", name="web", namespace="", dest=dest) == \
        "resource :Namespace is not permitted in project team"
    assert resource_violation(p, group="", kind="ConfigMap", name="c", namespace="db", dest=dest) == \
        "namespace db is not permitted in project team"
    assert resource_violation(p, group="", kind="ConfigMap", name="c", namespace="web", dest=dest) is None
    out = app_violations(p, app="web", repo_urls=("https://elsewhere/x",), dest=Destination("https://k", "", "web"),
                         app_namespace="argocd", control_namespace="argocd")
    assert out == ["application repo https://elsewhere/x is not permitted in project 'team'",
                   "application destination server 'https://k' and namespace 'web' do not match any of the "
                   "allowed destinations in project 'team'"]


def test_source_namespaces() -> None:
    p = proj(sourceRepos=["*"], destinations=[{"server": "*", "namespace": "*"}], sourceNamespaces=["team-*"])
    dest = Destination("https://k", "", "x")
    assert not app_violations(p, app="a", repo_urls=(), dest=dest, app_namespace="team-a", control_namespace="argocd")
    out = app_violations(p, app="a", repo_urls=(), dest=dest, app_namespace="other", control_namespace="argocd")
    assert out == ["application 'a' in namespace 'other' is not allowed to use project team"]


def test_app_destination_defaults_in_cluster() -> None:
    assert app_destination(None, "web") == Destination("https://kubernetes.default.svc", "in-cluster", "web")
    m = {"spec": {"destination": {"server": "https://k/", "namespace": "web"}}}
    assert app_destination(m, "web") == Destination("https://k", "", "web")


@pytest.mark.parametrize(("spec", "message"), [
    ({"sourceRepos": "https://x"}, "spec.sourceRepos must be a list, not str"),
    ({"sourceRepos": [1]}, r"spec.sourceRepos\[0\] must be a string, not int"),
    ({"destinations": ["x"]}, r"spec.destinations\[0\] must be a mapping"),
    ({"destinations": [{"server": 3}]}, r"spec.destinations\[0\].server must be a string, not int"),
    ({"clusterResourceWhitelist": [{"group": "", "kind": 1}]}, r"clusterResourceWhitelist\[0\].kind must be"),
    ({"namespaceResourceWhitelist": [{"group": "", "kind": "Pod", "name": "x"}]}, "only cluster-scoped"),
    ({"signatureKeys": [{"keyID": "ABC"}]}, "spec.signatureKeys is not supported"),
    ({"sourceRepo": ["*"]}, "unknown field spec.sourceRepo"),
    ({"syncWindows": [{"kind": "deny"}]}, r"spec.syncWindows\[0\].schedule is required"),
])
def test_type_errors_name_file_and_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(GitopsError, match=message) as e:
        proj(**spec)
    assert str(e.value).startswith("apps/project.yaml: AppProject team")
