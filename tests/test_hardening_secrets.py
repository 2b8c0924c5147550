"""A Secret the API server refuses: its error message quotes the values it could not take. Against the
real control plane, every command and output format shows the field and the cause, never the value."""

from __future__ import annotations

import base64
import os
import textwrap
import time
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from diff_helpers import Repo

MASK = "++++++++"  # what Argo CD shows for a Secret's value

SECRETS = """\
    apiVersion: v1
    kind: Secret
    metadata: {{name: number, namespace: {ns}}}
    data:
      password: 987654321987
    ---
    apiVersion: v1
    kind: Secret
    metadata: {{name: listed, namespace: {ns}}}
    stringData: [hunter2-topsecret, second-Secret-value]
    """
VALUES = ("987654321987", "hunter2-topsecret", "second-Secret-value")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("argv", [
    ("kubectl-gitops-diff",), ("kubectl-gitops-diff", "-o", "json"), ("kubectl-gitops-diff", "-o", "yaml"),
    ("kubectl-gitops-diff", "-o", "markdown"), ("kubectl-gitops-status",), ("kubectl-gitops-status", "-o", "json"),
    ("kubectl-gitops-sync",), ("kubectl-gitops-sync", "-o", "json"), ("kubectl-gitops-sync", "--dry-run"),
], ids=" ".join)
def test_server_messages_about_a_secret_are_masked(cluster: Cluster, namespace: str, tmp_path: Path,
                                                    argv: tuple[str, ...]) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "secrets.yaml").write_text(textwrap.dedent(SECRETS.format(ns=namespace)))
    r = run_cli(*argv, str(app))
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "Traceback" not in out
    assert [v for v in VALUES if v in out] == []
    assert f"Secret {namespace}/number: apply secrets/number: " in out
    assert f".data.password: expected string, got {MASK} (500)" in out
    assert f".stringData: expected map, got {MASK} (500)" in out
    assert cluster.kubectl("get", "secrets", "-n", namespace, "-o", "name").stdout.count("secret/") == 0


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
          "data": {"token": "c3VwZXItc2VjcmV0LXRva2Vu", "short": "v1"},  # super-secret-token
          "stringData": {"nested": ["a-long-value", {"deep": 42.5}], "flag": True}}


@pytest.mark.parametrize(("message", "masked"), [
    ("data.token: Invalid value: \"c3VwZXItc2VjcmV0LXRva2Vu\"", f"data.token: Invalid value: \"{MASK}\""),
    ("decoded super-secret-token is bad", f"decoded {MASK} is bad"),
    ("value a-long-value and 42.5 and true", f"value {MASK} and {MASK} and {MASK}"),
    ("apiVersion v1beta1 of /v1", f"apiVersion v1beta1 of /{MASK}"),  # whole values only
    (".data.x: expected string, got &value.valueUnstructured{Value:1} (500)",
     f".data.x: expected string, got {MASK} (500)"),
    ("Secret \"s\" is invalid: data[bad key]: a valid config key must consist of alphanumerics",
     "Secret \"s\" is invalid: data[bad key]: a valid config key must consist of alphanumerics"),
])
def test_mask_message(message: str, masked: str) -> None:
    from kubectl_gitops import masking

    assert masking.mask_message(message, SECRET) == masked


def test_messages_about_other_kinds_are_unchanged() -> None:
    from kubectl_gitops import masking

    cm = {**SECRET, "kind": "ConfigMap"}
    assert masking.mask_message("got 987 (500)", cm) == "got 987 (500)"
    assert masking.mask_message("got 987 (500)", {**SECRET, "apiVersion": "example.com/v1"}) == "got 987 (500)"


def test_rendered_secrets_never_reach_the_cache(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """The work-tree parse cache and the git-tree render cache alike store an app without a Secret and
    never one with it (that app is rendered again on every run). What is cached besides is Git's own
    content (repos/, trees/): the repository, which holds the Secret's file anyway."""
    repo = Repo(tmp_path / "config")
    secret = "cache-me-not-4711"
    repo.write("app/secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: {namespace}}}\n"
                                  f"stringData: {{password: {secret}}}\n")
    repo.write("app/cm.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: {namespace}}}\n")
    repo.write("plain/cm.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: p, namespace: {namespace}}}\n")
    repo.commit()
    for f in ("app/secret.yaml", "app/cm.yaml", "plain/cm.yaml"):
        os.utime(repo.root / f, (946684800, 946684800))  # 2000: out of the parse cache's racy window
    time.sleep(2.1)  # ctime cannot be set back: let it age out of the window too
    for argv in (("app",), ("plain",), ("--revision", "HEAD", "app"), ("--revision", "HEAD", "plain")):
        r = run_cli("kubectl-gitops-diff", *argv, cwd=repo.root)
        assert r.returncode == 1, r.stderr
    cache = tmp_path / "cache" / "kubectl-gitops"
    written = [p for sub in ("render", "worktree") for p in (cache / sub).rglob("*.json")]
    assert {p.relative_to(cache).parts[0] for p in written} == {"render", "worktree"}
    encoded = base64.b64encode(secret.encode())
    assert [p for p in written if secret.encode() in p.read_bytes() or encoded in p.read_bytes()] == []
