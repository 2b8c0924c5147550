"""The one schema of Application and AppProject documents: every field of the wrong type, every unknown
field and every field not honoured yet gets the same kind of message naming its path (exit 2)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubectl_gitops import schema, yamlio
from kubectl_gitops.apps import parse_application
from kubectl_gitops.errors import EXIT_ERROR, GitopsError

APP = yamlio.load("""
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
  labels: {team: a}
  annotations: {argocd.argoproj.io/sync-wave: "1"}
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: https://git.example.com/config.git
    targetRevision: main
    path: apps/web
    directory: {recurse: true, include: "*.yaml", exclude: "test/*", jsonnet: {}}
  destination: {server: https://kubernetes.default.svc, namespace: web}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
    managedNamespaceMetadata: {labels: {a: b}, annotations: {c: d}}
  ignoreDifferences:
  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
status: {sync: {status: Synced}}
""", "app.yaml")

WHERE = "apps/web.yaml: Application web"


def _with(path: str, value: Any) -> dict[str, Any]:
    """APP with the field at dotted `path` set to `value` (parents created)."""
    doc = copy.deepcopy(APP)
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return doc


def _error(doc: dict[str, Any]) -> str:
    with pytest.raises(GitopsError) as info:
        parse_application(doc, "apps/web.yaml")
    assert info.value.exit_code == EXIT_ERROR
    return str(info.value)


def test_the_full_application_is_read() -> None:
    app = parse_application(APP, "apps/web.yaml")
    assert (app.name, app.source.path, app.source.directory.recurse, app.auto_prune, app.wave) == \
        ("web", "apps/web", True, True, 1)


WRONG_TYPES = [
    ("spec", [1], "spec must be a mapping, not a list"),
    ("spec", "x", "spec must be a mapping, not a string"),
    ("spec.destination", "web", "spec.destination must be a mapping, not a string"),
    ("spec.syncPolicy", ["automated"], "spec.syncPolicy must be a mapping, not a list"),
    ("spec.syncPolicy.automated", True, "spec.syncPolicy.automated must be a mapping, not a boolean (true)"),
    ("spec.syncPolicy.automated.prune", "yes", "spec.syncPolicy.automated.prune must be true or false, not a string"),
    ("spec.syncPolicy.syncOptions", "CreateNamespace=true", "spec.syncPolicy.syncOptions must be a list, not a string"),
    ("spec.syncPolicy.syncOptions", [1], "spec.syncPolicy.syncOptions[0] must be a string, not a number (1)"),
    ("spec.source", "https://x", "spec.source must be a mapping, not a string"),
    ("spec.source.directory", True, "spec.source.directory must be a mapping, not a boolean (true)"),
    ("spec.source.directory.recurse", "true", "spec.source.directory.recurse must be true or false, not a string"),
    ("spec.source.path", 7, "spec.source.path must be a string, not a number (7)\nhint: quote it in the YAML"),
    ("spec.source.targetRevision", 1.0, "spec.source.targetRevision must be a string, not a number (1.0)"),
    ("spec.project", ["default"], "spec.project must be a string, not a list"),
    ("spec.ignoreDifferences", {"kind": "x"}, "spec.ignoreDifferences must be a list, not a mapping"),
    ("spec.ignoreDifferences", ["x"], "spec.ignoreDifferences[0] must be a mapping, not a string"),
    ("spec.destination.namespace", 5, "spec.destination.namespace must be a string, not a number (5)"),
    ("metadata.annotations", ["a", "b"], "metadata.annotations must be a mapping, not a list"),
    ("metadata.labels.team", 1, "metadata.labels.team must be a string, not a number (1)"),
    ("spec.syncPolicy.managedNamespaceMetadata.labels", ["a"],
     "spec.syncPolicy.managedNamespaceMetadata.labels must be a mapping, not a list"),
]


@pytest.mark.parametrize(("path", "value", "message"), WRONG_TYPES, ids=[f"{p}={v!r}" for p, v, _ in WRONG_TYPES])
def test_wrong_type_names_the_field(path: str, value: Any, message: str) -> None:
    assert _error(_with(path, value)).startswith(f"{WHERE}: {message}")


def test_metadata_not_a_mapping() -> None:
    assert _error(_with("metadata", "web")).startswith(
        "apps/web.yaml: Application ?: metadata must be a mapping, not a string")


UNKNOWN = [
    ("spec.sourc", {"path": "x"}, "spec.sourc: unknown field"),
    ("spec.source.recurse", True, "spec.source.recurse: unknown field"),
    ("spec.syncPolicy.automated.selfheal", True, "spec.syncPolicy.automated.selfheal: unknown field"),
    ("spec.destination.cluster", "x", "spec.destination.cluster: unknown field"),
    ("metadata.nmae", "x", "metadata.nmae: unknown field"),
    ("extra", 1, "extra: unknown field"),
]


@pytest.mark.parametrize(("path", "value", "message"), UNKNOWN, ids=[p for p, _, _ in UNKNOWN])
def test_unknown_field_is_named(path: str, value: Any, message: str) -> None:
    assert _error(_with(path, value)).startswith(f"{WHERE}: {message}\nhint: known fields here: ")


NOT_HONOURED = [
    ("spec.source.plugin.name", "cmp"),
    ("spec.syncPolicy.retry.refresh", True),  # retry and allowEmpty are honoured (watch)
    ("spec.info", [{"name": "url", "value": "https://x"}]),
    ("spec.revisionHistoryLimit", 10),
    ("spec.sourceHydrator", {"drySource": {"repoURL": "x"}}),
    ("operation", {"sync": {}}),
]


@pytest.mark.parametrize(("path", "value"), NOT_HONOURED, ids=[p for p, _ in NOT_HONOURED])
def test_field_not_honoured_is_refused_by_name(path: str, value: Any) -> None:
    assert _error(_with(path, value)).startswith(
        f"{WHERE}: {path} is not supported by kubectl-gitops yet; refused rather than ignored")


@pytest.mark.parametrize(("path", "value"), [("spec.source.helm", {}), ("spec.info", []),
                                             ("spec.source.directory.jsonnet", {"libs": []}),
                                             ("spec.revisionHistoryLimit", None)])
def test_empty_or_null_field_not_honoured_is_nothing_to_ignore(path: str, value: Any) -> None:
    parse_application(_with(path, value), "apps/web.yaml")


def test_any_destination_is_read_and_kept_for_resolution() -> None:
    app = parse_application(_with("spec.destination.server", "https://10.0.0.1:6443"), "apps/web.yaml")
    assert (app.dest_server, app.dest_name) == ("https://10.0.0.1:6443", "")
    app = parse_application(_with("spec.destination", {"name": "staging", "namespace": "x"}), "apps/web.yaml")
    assert (app.dest_server, app.dest_name, app.dest_namespace) == ("", "staging", "x")
    assert _error(_with("spec.destination.server", 5)).startswith(
        f"{WHERE}: spec.destination.server must be a string")


def test_app_project_uses_the_same_check() -> None:
    project = yamlio.load("""
        apiVersion: argoproj.io/v1alpha1
        kind: AppProject
        metadata: {name: team}
        spec:
          sourceRepos: ['*']
          destinations: [{server: '*', namespace: team-*}]
          clusterResourceWhitelist: [{group: '', kind: Namespace}]
          syncWindows: [{kind: allow, schedule: '0 8 * * *', duration: 8h, applications: ['*']}]
        """.replace("\n        ", "\n"), "p.yaml")
    schema.check_argo_document(project, "p.yaml: AppProject team")
    for path, value, message in [
        ("spec.sourceRepos", "*", "spec.sourceRepos must be a list, not a string"),
        ("spec.syncWindows", [{"kind": "allow", "manualSync": "yes"}],
         "spec.syncWindows[0].manualSync must be true or false, not a string"),
        ("spec.destination", [], "spec.destination: unknown field"),
    ]:
        doc = copy.deepcopy(project)
        doc["spec"][path.split(".")[1]] = value
        with pytest.raises(GitopsError) as info:
            schema.check_argo_document(doc, "p.yaml: AppProject team")
        assert str(info.value).startswith(f"p.yaml: AppProject team: {message}")


def test_every_field_argo_cd_defines_in_application_spec() -> None:
    """The schema knows each ApplicationSpec field of argo-cd's types.go (so none is 'unknown')."""
    spec = schema.APPLICATION_SPEC.fields
    assert set(spec) == {"source", "sources", "sourceHydrator", "destination", "project", "syncPolicy",
                         "ignoreDifferences", "info", "revisionHistoryLimit"}
    assert set(schema.SOURCE.fields) == {"repoURL", "path", "targetRevision", "helm", "kustomize",
                                         "directory", "plugin", "chart", "ref", "name"}
    assert set(schema.SYNC_POLICY.fields) == {"automated", "syncOptions", "retry", "managedNamespaceMetadata"}
