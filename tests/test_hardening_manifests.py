"""Hostile manifests through the real CLI: each is one clear error naming the file (and line or field),
exit 2, no traceback, and nothing written; diff and sync refuse exactly the same input with the same
message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from diff_helpers import application, error_of

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n{meta}data:\n  k: v\n"


def _bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "".join(f"  {x}\n" for x in lines)


MANIFESTS = [
    ("duplicate-name", "m.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
     "m.yaml:5:3: invalid YAML: key 'name' is given twice in this mapping (first on line 4)"),
    ("duplicate-data-key", "m.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: 1\n  k: 2\n",
     "m.yaml:6:3: invalid YAML: key 'k' is given twice in this mapping (first on line 5)"),
    ("duplicate-json-key", "m.json", '{"apiVersion": "v1", "kind": "ConfigMap",\n "metadata": {"name": "a"},\n'
     ' "data": {"k": "1",\n  "k": "2"}}', "m.json:4:3: invalid JSON: key 'k' is given twice in this mapping"),
    ("alias-bomb", "m.yaml", _bomb(), "YAML aliases expand this document to more than 10 MB; refused"),
    ("annotations-list", "m.yaml", CM.format(meta="  annotations: [a, b]\n"),
     "m.yaml: document 1 (ConfigMap): metadata.annotations must be a mapping, not a list"),
    ("sync-options-list", "m.yaml",
     CM.format(meta="  annotations:\n    argocd.argoproj.io/sync-options: [Prune=false]\n"),
     "m.yaml: document 1 (ConfigMap): metadata.annotations.argocd.argoproj.io/sync-options must be a string, "
     "not a list"),
    ("labels-number", "m.yaml", CM.format(meta="  labels: {tier: 1}\n"),
     "m.yaml: document 1 (ConfigMap): metadata.labels.tier must be a string, not a number (1)"),
    ("generate-name-not-hook", "m.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: c-}\n",
     "ConfigMap {ns}/c-: metadata.generateName without metadata.name is only for hooks"),
    ("wave-not-integer", "m.yaml", CM.format(meta="  annotations: {argocd.argoproj.io/sync-wave: soon}\n"),
     "m.yaml: ConfigMap {ns}/c: argocd.argoproj.io/sync-wave 'soon' is not an integer"),
    ("unknown-hook", "m.yaml", CM.format(meta="  annotations: {argocd.argoproj.io/hook: PreSink}\n"),
     "m.yaml: ConfigMap {ns}/c: unknown hook type 'PreSink'"),
    ("unknown-delete-policy", "m.yaml", CM.format(
        meta="  annotations: {argocd.argoproj.io/hook: PostSync, argocd.argoproj.io/hook-delete-policy: Never}\n"),
     "m.yaml: ConfigMap {ns}/c: unknown argocd.argoproj.io/hook-delete-policy 'Never'"),
    ("unknown-sync-option", "m.yaml", CM.format(meta="  annotations: {argocd.argoproj.io/sync-options: Prun=false}\n"),
     "m.yaml: ConfigMap {ns}/c: unknown sync option 'Prun=false'"),
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize(("file", "text", "message"), [m[1:] for m in MANIFESTS], ids=[m[0] for m in MANIFESTS])
def test_hostile_manifest(cluster: Cluster, namespace: str, tmp_path: Path, file: str, text: str,
                          message: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / file).write_text(text)
    expected = message.format(ns=namespace)
    for command in ("kubectl-gitops-diff", "kubectl-gitops-sync"):
        msg = error_of(run_cli(command, "-n", namespace, str(app)))
        assert msg.startswith(f"error: {app}/") and expected in msg, (command, msg)
    assert cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "name").stdout.strip() in (
        "", "configmap/kube-root-ca.crt")


APPLICATIONS = [
    ("spec-list", "spec: [1]", "spec must be a mapping, not a list"),
    ("destination-string", "spec:\n  destination: web", "spec.destination must be a mapping, not a string"),
    ("sync-policy-list", "spec:\n  syncPolicy: [automated]", "spec.syncPolicy must be a mapping, not a list"),
    ("automated-true", "spec:\n  syncPolicy: {automated: true}",
     "spec.syncPolicy.automated must be a mapping, not a boolean (true)"),
    ("directory-true", "spec:\n  source: {directory: true}",
     "spec.source.directory must be a mapping, not a boolean (true)"),
    ("unknown-field", "spec:\n  syncPolicy: {automatic: {}}", "spec.syncPolicy.automatic: unknown field"),
    ("not-honoured", "spec:\n  syncPolicy: {retry: {limit: 2, refresh: true}}",
     "spec.syncPolicy.retry.refresh is not supported by kubectl-gitops yet; refused rather than ignored"),
    ("wave-not-integer", "metadata:\n  annotations: {argocd.argoproj.io/sync-wave: first}",
     "argocd.argoproj.io/sync-wave 'first' is not an integer"),
]


def _merge(base: dict, patch: dict) -> dict:
    out = dict(base)
    for k, v in patch.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


@pytest.mark.parametrize(("patch", "message"), [a[1:] for a in APPLICATIONS], ids=[a[0] for a in APPLICATIONS])
def test_wrongly_typed_application(cluster: Cluster, namespace: str, tmp_path: Path, patch: str,
                                   message: str) -> None:
    from kubectl_gitops import yamlio

    no_repo = f"file://{tmp_path}/no-repo"  # never fetched: the check comes first
    doc = _merge(yamlio.load(application("web", "app", namespace, repo_url=no_repo), "a"),
                 yamlio.load(patch, "p"))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_text(CM.format(meta=""))
    f = tmp_path / "web.yaml"
    f.write_text(yamlio.dump(doc))
    for command in ("kubectl-gitops-diff", "kubectl-gitops-sync"):
        msg = error_of(run_cli(command, str(f), cwd=tmp_path))
        assert msg.startswith(f"error: {f}: Application web: {message}"), (command, msg)


def test_child_application_in_a_rendered_app_is_checked_too(cluster: Cluster, namespace: str,
                                                             tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    child = application("child", "app", namespace, repo_url=f"file://{tmp_path}/no-repo")
    child += "  syncPolicy: {automated: true}\n"
    (root / "child.yaml").write_text(child)
    (root / "cm.yaml").write_text(textwrap.dedent(CM.format(meta="")))
    msg = error_of(run_cli("kubectl-gitops-diff", "-n", namespace, str(root)))
    assert "child.yaml: document 1 (Application): spec.syncPolicy.automated must be a mapping, not a boolean" in msg
