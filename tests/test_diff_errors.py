"""Bad input: each is one clear message on stderr naming the file/object and the cause, exit 2, nothing on
stdout and no traceback (`error_of` checks all of that)."""

from __future__ import annotations

import re
import socket
import textwrap
from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import Repo, application, apply, bare_remote, configmap, diff, error_of, statuses


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _app(tmp_path: Path, files: dict[str, str], name: str = "app") -> Path:
    app = tmp_path / name
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(textwrap.dedent(text))
    return app


# -- manifests -------------------------------------------------------------------------------------

def test_yaml_syntax_error_names_file_and_line(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, {"good.yaml": configmap(namespace, "c", {"k": "v"}),
                          "bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n"})
    msg = error_of(diff(str(app)))
    assert re.match(rf"error: \S*{re.escape(str(app / 'bad.yaml'))}:5:\d+: invalid YAML: ", msg), msg


def test_invalid_json_names_file(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, {"cm.json": '{"apiVersion": "v1", "kind": '})
    msg = error_of(diff(str(app)))
    assert re.match(rf"error: {re.escape(str(app / 'cm.json'))}:\d+:\d+: invalid ", msg), msg


@pytest.mark.parametrize(("doc", "cause"), [
    ("kind: ConfigMap\nmetadata: {name: c}\n", "document 2 (ConfigMap) has no apiVersion"),
    ("apiVersion: v1\nmetadata: {name: c}\n", "document 2 (no kind) has no kind"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n", "document 2 (ConfigMap) has no metadata.name"),
    ("apiVersion: v1\nkind: ConfigMap\n", "document 2 (ConfigMap) has no metadata.name"),
    ("- just\n- a list\n", "document 2 is not a Kubernetes object"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 0123}\n", "document 2 (ConfigMap): metadata.name 83 is "
                                                                   "not a string\nhint: quote it in the YAML"),
])
def test_object_without_identity(cluster: Cluster, namespace: str, tmp_path: Path, doc: str, cause: str) -> None:
    app = _app(tmp_path, {"objects.yaml": configmap(namespace, "fine", {"k": "v"}) + "---\n" + doc})
    msg = error_of(diff(str(app)))
    assert msg.startswith(f"error: {app / 'objects.yaml'}: {cause}"), msg


def test_duplicate_object(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, {"a.yaml": configmap(namespace, "twice", {"k": "a"}),
                          "b.yaml": configmap(namespace, "twice", {"k": "b"})})
    msg = error_of(diff(str(app)))
    assert f"{app / 'b.yaml'}: ConfigMap {namespace}/twice is defined twice in app app (also in {app / 'a.yaml'})" \
        in msg


def test_unknown_kind_names_the_missing_crd(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, {"w.yaml": f"apiVersion: example.com/v1\nkind: Widget\n"
                                    f"metadata: {{name: w, namespace: {namespace}}}\n"})
    msg = error_of(diff(str(app)))
    assert f"error: {app / 'w.yaml'}: the cluster does not know kind Widget.example.com" in msg
    assert "hint: install the CustomResourceDefinition for Widget.example.com first" in msg


def test_custom_resource_with_its_crd_in_the_same_app(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    group = f"{namespace}.example.com"
    app = _app(tmp_path, {
        "crd.yaml": f"""\
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {{name: gadgets.{group}}}
            spec:
              group: {group}
              scope: Namespaced
              names: {{kind: Gadget, plural: gadgets}}
              versions:
                - name: v1
                  served: true
                  storage: true
                  schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
            """,
        "gadget.yaml": f"apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: g, namespace: {namespace}}}\n"})
    res = diff(str(app))
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {("app", "CustomResourceDefinition", "", f"gadgets.{group}"): "Missing",
                                    ("app", "Gadget", namespace, "g"): "Missing"}


def test_kustomize_failure_names_the_directory(cluster: Cluster, tmp_path: Path) -> None:
    app = _app(tmp_path, {"kustomization.yaml": "resources: [missing.yaml]\n"}, name="broken")
    msg = error_of(diff(str(app)))
    assert msg.startswith(f"error: {app}: kustomize failed: ")
    assert "missing.yaml" in msg


def test_nonexistent_target(cluster: Cluster, tmp_path: Path) -> None:
    msg = error_of(diff("no-such-app", "--namespace", "x", env={}, cwd=tmp_path))
    assert msg.startswith("error: no-such-app: no such file, directory or application")


# -- sources ---------------------------------------------------------------------------------------

def test_application_with_a_missing_path(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("apps/web.yaml", application("web", "services/nope", namespace))
    repo.commit()
    for args in ([], ["--revision", "HEAD"]):
        msg = error_of(diff("apps/web.yaml", *args, cwd=repo.root))
        assert msg.startswith("error: apps/web.yaml: Application web: path 'services/nope' does not exist in "
                              + ("rev HEAD" if args else "work tree")), msg


def test_errors_at_a_revision_name_the_file_in_the_repository(cluster: Cluster, namespace: str,
                                                              tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n")
    repo.write("apps/web.yaml", application("web", "app", namespace))
    repo.write("kust/kustomization.yaml", "resources: [missing.yaml]\n")
    repo.commit("broken")
    repo.write("app/cm.yaml", configmap(namespace, "x", {"k": "v"}))  # fixed in the work tree only
    assert diff("app", cwd=repo.root).returncode == 1

    for target in ("app", "apps/web.yaml"):
        msg = error_of(diff(target, "--revision", "HEAD", cwd=repo.root))
        assert msg.startswith("error: app/cm.yaml:5:2: invalid YAML: "), msg
        assert "cache" not in msg
    msg = error_of(diff("kust", "--revision", "HEAD", cwd=repo.root))
    assert msg.startswith("error: kust: kustomize failed: "), msg


def test_unknown_revision(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("app/cm.yaml", configmap(namespace, "c", {"k": "v"}))
    repo.commit()
    msg = error_of(diff("app", "--revision", "no-such-branch", cwd=repo.root))
    assert "unknown revision 'no-such-branch'" in msg and str(repo.root) in msg

    plain = _app(tmp_path, {"cm.yaml": configmap(namespace, "c", {"k": "v"})}, name="not-a-repo")
    msg = error_of(diff(str(plain), "--revision", "main", cwd=tmp_path))
    assert "--revision needs a git repository" in msg


def test_unknown_target_revision_of_a_remote(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    bare_remote(remote, {"app/cm.yaml": configmap("", "c", {"k": "v"})})
    app_file = tmp_path / "app.yaml"
    app_file.write_text(application("r", "app", namespace, repo_url=f"file://{remote}", revision="v9"))
    msg = error_of(diff(str(app_file), cwd=tmp_path))
    assert msg.startswith(f"error: file://{remote}: unknown revision 'v9'"), msg

    app_file.write_text(application("r", "app", namespace, repo_url=f"file://{tmp_path}/gone.git"))
    msg = error_of(diff(str(app_file), cwd=tmp_path))
    assert msg.startswith(f"error: cannot fetch file://{tmp_path}/gone.git: "), msg


# -- the cluster -----------------------------------------------------------------------------------

def _kubeconfig_variant(cluster: Cluster, tmp_path: Path, old: str, new: str) -> str:
    text = cluster.kubeconfig.read_text()
    assert old in text
    path = tmp_path / "kubeconfig"
    path.write_text(text.replace(old, new))
    return str(path)


def test_unreachable_cluster(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = _kubeconfig_variant(cluster, tmp_path, cluster.server, f"https://127.0.0.1:{port}")
    app = _app(tmp_path, {"cm.yaml": configmap(namespace, "c", {"k": "v"})})
    msg = error_of(diff(str(app), "--kubeconfig", kubeconfig))
    assert msg.startswith(f"error: cannot reach the cluster at https://127.0.0.1:{port} (context 'local'): ")
    assert "refused" in msg


def test_bad_token_is_401(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    token = re.search(r"token: (\S+)", cluster.kubeconfig.read_text())
    assert token
    kubeconfig = _kubeconfig_variant(cluster, tmp_path, token.group(1), "not-a-valid-token")
    app = _app(tmp_path, {"cm.yaml": configmap(namespace, "c", {"k": "v"})})
    msg = error_of(diff(str(app), env={"KUBECONFIG": kubeconfig}))
    assert msg.startswith(f"error: unauthorized (401) for discovery /api on {cluster.server}: check the "
                          "credentials of context 'local'"), msg


def test_forbidden_is_403_naming_verb_and_resource(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    apply(cluster, configmap(namespace, "c", {"k": "v"}))
    app = _app(tmp_path, {"cm.yaml": configmap(namespace, "c", {"k": "v"}),
                          "secret.yaml": f"apiVersion: v1\nkind: Secret\n"
                                         f"metadata: {{name: s, namespace: {namespace}}}\nstringData: {{k: v}}\n"})
    msg = error_of(diff(str(app), "--context", "limited"))
    assert msg.startswith("error: forbidden (403): cannot list secrets: "), msg
    assert f'User "limited" cannot list resource "secrets" in API group "" in the namespace "{namespace}"' in msg
    assert "hint: the user of context 'limited' lacks RBAC permission for it" in msg

    # Without a Secret in Git, the read-only user gets a diff; only the search for extraneous Secrets
    # (which it may not list) is left out, and it is told so.
    (app / "secret.yaml").unlink()
    res = diff(str(app), "--context", "limited")
    assert res.returncode == 0, res.stderr
    assert statuses(res.stdout) == {("app", "ConfigMap", namespace, "c"): "Synced"}
    assert re.search(r"not allowed to list [a-z, ]*\bsecrets\b[a-z, ]*: extraneous objects of those kinds are "
                     "not shown", res.stderr), res.stderr


def test_context_that_does_not_exist(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, {"cm.yaml": configmap(namespace, "c", {"k": "v"})})
    msg = error_of(diff(str(app), "--context", "nope"))
    assert msg == (f"error: context 'nope' does not exist in {cluster.kubeconfig}\n"
                   "hint: known contexts: local, limited\n")


def test_no_kubeconfig(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, {"cm.yaml": configmap(namespace, "c", {"k": "v"})})
    msg = error_of(diff(str(app), env={"KUBECONFIG": str(tmp_path / "none")}))
    assert msg.startswith(f"error: no kubeconfig found at {tmp_path / 'none'}")
