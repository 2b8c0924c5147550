"""The project checks of a run (pure): where projects come from, what a project refuses, overrun."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubectl_gitops import policy
from kubectl_gitops.apps import App, Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Manifest, ResourceKey
from kubectl_gitops.project import parse_project
from kubectl_gitops.state import AppState, ResourceState, SyncStatus


def project_doc(name: str, spec: str = "") -> dict:
    import yaml

    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": name},
            "spec": yaml.safe_load(spec) or {}}


def test_lookup_order_rendered_then_cluster_then_files() -> None:
    calls = []

    def cluster() -> list[Manifest]:
        calls.append(1)
        return [Manifest(project_doc("p", "description: cluster"), "cluster"),
                Manifest(project_doc("q"), "cluster")]

    projects = policy.Projects(cluster=cluster, files=[Manifest(project_doc("q"), "f.yaml"),
                                                       Manifest(project_doc("r"), "f.yaml")])
    projects.add([Manifest(project_doc("p"), "apps/project.yaml")])
    assert projects.get("p", "x").origin == "apps/project.yaml" and not calls  # the cluster is not asked
    assert projects.get("q", "x").origin == "cluster" and projects.get("r", "x").origin == "f.yaml"
    assert calls == [1]  # read once
    assert projects.get("default", "x").source_repos == ("*",)
    with pytest.raises(GitopsError, match=r"apps/a.yaml: Application a: project 'nope' exists nowhere"):
        projects.get("nope", "apps/a.yaml: Application a")


def test_a_project_defined_twice_differently_is_an_error() -> None:
    projects = policy.Projects()
    projects.add([Manifest(project_doc("p"), "a.yaml")])
    projects.add([Manifest(project_doc("p"), "b.yaml")])  # the same definition seen twice is fine
    with pytest.raises(GitopsError, match=r"c\.yaml: AppProject p is also defined in a\.yaml"):
        projects.add([Manifest(project_doc("p", "sourceRepos: ['*']"), "c.yaml")])


def app(ns: str = "web") -> App:
    manifest = {"metadata": {"name": "web", "namespace": "argocd"},
                "spec": {"destination": {"server": "https://kubernetes.default.svc", "namespace": ns}}}
    return App(name="web", source=Source(repo_url="https://git.example.com/web.git", path="."), dest_namespace=ns,
               project="team", manifest=manifest)


TEAM = """
sourceRepos: ['https://git.example.com/*']
destinations: [{server: '*', namespace: web}]
namespaceResourceBlacklist: [{group: '', kind: Secret}]
syncWindows:
  - {kind: deny, schedule: '0 22 * * *', duration: 1h, applications: ['*']}
"""


def rs(kind: str, ns: str = "web", name: str = "x") -> ResourceState:
    return ResourceState(app="web", key=ResourceKey("", kind, ns, name), status=SyncStatus.MISSING, origin="f.yaml")


def test_refused_objects_and_live_objects_outside_the_project() -> None:
    team = parse_project(project_doc("team", TEAM), "p.yaml")
    assert policy.app_conditions(app(), team, "argocd") == []
    resources = {r.key: r for r in (rs("ConfigMap"), rs("Secret"), rs("ConfigMap", ns="db"), rs("Namespace", ""))}
    refused = policy.refuse_resources(app(), team, resources)
    assert {r.key.kind: r.message for r in refused} == {
        "Secret": "resource :Secret is not permitted in project team",
        "ConfigMap": "namespace db is not permitted in project team",
        "Namespace": "resource :Namespace is not permitted in project team"}
    assert list(resources) == [ResourceKey("", "ConfigMap", "web", "x")]
    assert all(r.status == SyncStatus.UNKNOWN for r in refused)
    assert [r.key.kind for r in policy.permitted_live(app(), team, [rs("ConfigMap"), rs("Secret")])] == ["ConfigMap"]
    assert policy.app_conditions(app("kube-system"), team, "argocd") == [
        "application destination server 'https://kubernetes.default.svc' and namespace 'kube-system' do not "
        "match any of the allowed destinations in project 'team'"]


def test_window_and_overrun_violations() -> None:
    team = parse_project(project_doc("team", TEAM), "p.yaml")
    state = AppState(app=app(), source_label="work tree", project=team)
    night, noon = datetime(2026, 12, 1, 22, 30, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert policy.window_violations(state, at=noon) == []
    [why] = policy.window_violations(state, at=night)
    assert why.startswith('blocked by deny window "0 22 * * *" for 1h of project team')
    assert "syncOverrun is not set" in policy.overrun_violation(state, at=night)
    overrun = parse_project(project_doc("team", TEAM.replace("applications: ['*']}",
                                                             "applications: ['*'], syncOverrun: true}")), "p.yaml")
    assert policy.overrun_violation(AppState(app=app(), source_label="", project=overrun), at=night) == ""
