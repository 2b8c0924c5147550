"""`kubectl gitops diff` against the real control plane: sources (work tree, --revision, a file:// remote),
Kustomize overlays, exit codes, output formats and color."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import VENV_BIN, Cluster
from diff_helpers import (
    TRACKING,
    Repo,
    application,
    apply,
    bare_remote,
    configmap,
    deployment,
    diff,
    statuses,
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git clones and renders are cached per test, so no test depends on an earlier run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# -- sources ---------------------------------------------------------------------------------------

def test_work_tree_includes_uncommitted_changes(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("app/cm.yaml", configmap(namespace, "settings", {"color": "blue"}))
    repo.commit("blue")
    apply(cluster, configmap(namespace, "settings", {"color": "blue"}))

    res = diff("app", cwd=repo.root)
    assert res.returncode == 0, res.stderr
    assert statuses(res.stdout) == {("app", "ConfigMap", namespace, "settings"): "Synced"}

    repo.write("app/cm.yaml", configmap(namespace, "settings", {"color": "green"}))
    res = diff("app", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert f"===== app: ConfigMap {namespace}/settings (OutOfSync) =====" in res.stdout
    assert "-  color: blue\n+  color: green\n" in res.stdout
    assert "from work tree" in res.stderr


def test_revision_reads_the_object_database_without_checkout(cluster: Cluster, namespace: str,
                                                             tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("app/cm.yaml", configmap(namespace, "settings", {"color": "blue"}))
    first = repo.commit("blue")
    repo.git("tag", "v1")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("app/cm.yaml", configmap(namespace, "settings", {"color": "red"}))
    repo.commit("red")
    repo.git("checkout", "-q", "main")
    repo.write("app/cm.yaml", configmap(namespace, "settings", {"color": "green"}))  # uncommitted
    apply(cluster, configmap(namespace, "settings", {"color": "blue"}))
    head, status = repo.git("rev-parse", "HEAD"), repo.status()

    res = diff("app", "--revision", "feature", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert "-  color: blue\n+  color: red\n" in res.stdout
    assert "from rev feature" in res.stderr
    for rev in ("HEAD", "main", "v1", first, first[:10]):
        res = diff("app", "--revision", rev, cwd=repo.root)
        assert res.returncode == 0, (rev, res.stdout, res.stderr)

    # Nothing was checked out: same branch, same HEAD, the local edit still there.
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.status() == status == "M app/cm.yaml"
    assert "color: 'green'" in (repo.root / "app/cm.yaml").read_text()


def test_application_of_the_local_repo_by_file_and_by_name(cluster: Cluster, namespace: str,
                                                           tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("services/web/cm.yaml", configmap("", "web-settings", {"mode": "fast"}))
    repo.write("apps/web.yaml", application("web", "services/web", namespace))
    repo.commit()
    apply(cluster, configmap(namespace, "web-settings", {"mode": "slow"}))

    for target in ("apps/web.yaml", "web", "apps"):
        res = diff(target, cwd=repo.root)
        assert res.returncode == 1, (target, res.stderr)
        # The Application's destination namespace is used for an object that names none.
        assert f"===== web: ConfigMap {namespace}/web-settings (OutOfSync) =====" in res.stdout
        assert "-  mode: slow\n+  mode: fast\n" in res.stdout

    # With --revision the Application itself is read from that revision too.
    repo.write("apps/web.yaml", application("web", "services/elsewhere", namespace))
    res = diff("apps/web.yaml", "--revision", "HEAD", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert "+  mode: fast\n" in res.stdout


def test_application_target_revision_on_another_branch_of_the_local_repo(cluster: Cluster, namespace: str,
                                                                         tmp_path: Path) -> None:
    """Environment branches: an Application pinned to a branch that is not checked out reads that
    branch, not the work tree; one pinned to the checked-out branch reads the work tree."""
    repo = Repo(tmp_path / "config")
    repo.write("app/cm.yaml", configmap("", "settings", {"env": "main"}))
    repo.write("apps/on-main.yaml", application("on-main", "app", namespace, revision="main"))
    repo.write("apps/on-prod.yaml", application("on-prod", "app", namespace, revision="env-prod"))
    repo.commit("main")
    repo.git("branch", "env-prod")
    repo.git("checkout", "-q", "env-prod")
    repo.write("app/cm.yaml", configmap("", "settings", {"env": "prod"}))
    repo.commit("prod")
    repo.git("checkout", "-q", "main")
    repo.write("app/cm.yaml", configmap("", "settings", {"env": "edited"}))  # uncommitted
    apply(cluster, configmap(namespace, "settings", {"env": "live"}))

    res = diff("apps/on-prod.yaml", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert "-  env: live\n+  env: prod\n" in res.stdout and "rev env-prod" in res.stderr
    res = diff("apps/on-main.yaml", cwd=repo.root)
    assert "-  env: live\n+  env: edited\n" in res.stdout and "from work tree" in res.stderr


def test_file_url_remote_is_fetched_into_the_cache(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    work = bare_remote(remote, {"app/cm.yaml": configmap("", "remote-settings", {"level": "one"})})
    work.git("tag", "v1")
    work.git("push", "-q", "origin", "v1")
    apps = tmp_path / "apps"
    apps.mkdir()
    app_file = apps / "remote.yaml"
    app_file.write_text(application("remote-app", "app", namespace, repo_url=f"file://{remote}",
                                    revision="main"))

    res = diff(str(app_file), cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {("remote-app", "ConfigMap", namespace, "remote-settings"): "Missing"}
    assert f"file://{remote}@main" in res.stderr
    assert list((tmp_path / "cache" / "kubectl-gitops" / "repos").glob("*.git"))

    apply(cluster, configmap(namespace, "remote-settings", {"level": "one"}))
    assert diff(str(app_file), cwd=tmp_path).returncode == 0

    # A new commit on the remote is fetched on the next run; the tag still names the old content.
    work.write("app/cm.yaml", configmap("", "remote-settings", {"level": "two"}))
    work.commit("two")
    work.git("push", "-q", "origin", "HEAD:refs/heads/main")
    res = diff(str(app_file), cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "-  level: one\n+  level: two\n" in res.stdout
    app_file.write_text(application("remote-app", "app", namespace, repo_url=f"file://{remote}", revision="v1"))
    assert diff(str(app_file), cwd=tmp_path).returncode == 0


# -- kustomize -------------------------------------------------------------------------------------

def _kustomize_repo(root: Path, namespace: str) -> tuple[Repo, str, str]:
    """services/<svc>/base and its overlays/dev; returns (repo, overlay path, app name). The app is named
    `<svc>-dev` after its overlay, and <svc> is the test's own namespace: a fixed name (`web-dev`) would be
    shared with the example repository's app, whose objects an earlier test leaves, and show as theirs."""
    repo = Repo(root)
    svc = f"services/{namespace}"
    repo.write(f"{svc}/base/kustomization.yaml", "resources: [deployment.yaml, configmap.yaml]\n")
    repo.write(f"{svc}/base/deployment.yaml", deployment("", "web"))
    repo.write(f"{svc}/base/configmap.yaml", configmap("", "web-config", {"greeting": "hello"}))
    repo.write(f"{svc}/overlays/dev/kustomization.yaml", f"""\
        namespace: {namespace}
        namePrefix: dev-
        resources: [../../base]
        patches:
          - target: {{kind: Deployment, name: web}}
            patch: |
              - {{op: replace, path: /spec/replicas, value: 2}}
        """)
    repo.commit("web")
    return repo, f"{svc}/overlays/dev", f"{namespace}-dev"


def test_kustomize_overlay(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, overlay, app = _kustomize_repo(tmp_path / "config", namespace)
    res = diff(overlay, cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {(app, "Deployment", namespace, "dev-web"): "Missing",
                                    (app, "ConfigMap", namespace, "dev-web-config"): "Missing"}

    rendered = cluster.kubectl("kustomize", str(repo.root / overlay)).stdout
    apply(cluster, rendered)
    res = diff(overlay, cwd=repo.root)
    assert res.returncode == 0, res.stdout + res.stderr

    # A change in the overlay and one in the base it builds on both show.
    repo.write(f"{overlay}/kustomization.yaml",
               (repo.root / overlay / "kustomization.yaml").read_text().replace("value: 2", "value: 3"))
    repo.write(f"services/{namespace}/base/deployment.yaml", deployment("", "web", image="registry.invalid/web:1.1.0"))
    res = diff(overlay, cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert "-  replicas: 2\n+  replicas: 3\n" in res.stdout
    assert "-      - image: registry.invalid/web:1.0.0\n+      - image: registry.invalid/web:1.1.0\n" in res.stdout
    assert statuses(res.stdout)[(app, "ConfigMap", namespace, "dev-web-config")] == "Synced"


def test_render_cache_follows_changes_to_the_base(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, overlay, _ = _kustomize_repo(tmp_path / "config", namespace)
    apply(cluster, cluster.kubectl("kustomize", str(repo.root / overlay)).stdout)
    assert diff(overlay, "--revision", "HEAD", cwd=repo.root).returncode == 0
    renders = list((tmp_path / "cache" / "kubectl-gitops" / "render").rglob("*.json"))
    assert len(renders) == 1
    # The same tree is not rendered twice: a kubectl that logs its calls runs `kustomize` once.
    wrapper, calls = tmp_path / "bin" / "kubectl", tmp_path / "kubectl-calls"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {cluster.bin_dir / "kubectl"} "$@"\n')
    wrapper.chmod(0o755)
    logged = {"PATH": f"{wrapper.parent}:{os.environ['PATH']}"}
    for _ in range(2):
        assert diff(overlay, "--revision", "HEAD", cwd=repo.root, env=logged).returncode == 0
    assert calls.read_text().count("kustomize") == 1
    assert diff(overlay, cwd=repo.root, env=logged).returncode == 0  # a work tree is rendered every time
    assert calls.read_text().count("kustomize") == 2

    # Only the base changes: the overlay's own tree id is the same, the render must not be reused.
    repo.write(f"services/{namespace}/base/configmap.yaml", configmap("", "web-config", {"greeting": "bonjour"}))
    repo.commit("french")
    res = diff(overlay, "--revision", "HEAD", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert "-  greeting: hello\n+  greeting: bonjour\n" in res.stdout
    assert diff(overlay, "--revision", "HEAD~1", cwd=repo.root).returncode == 0


# -- plain directories -----------------------------------------------------------------------------

def test_directory_recurse_include_exclude_lists_and_json(cluster: Cluster, namespace: str,
                                                          tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("svc/a.yaml", configmap("", "a", {"k": "v"}))
    repo.write("svc/nested/b.yaml", configmap("", "b", {"k": "v"}))
    repo.write("svc/nested/skip-c.yaml", configmap("", "c", {"k": "v"}))
    repo.write("svc/.hidden/g.yaml", configmap("", "g", {"k": "v"}))
    repo.write("svc/README.md", "not a manifest\n")
    repo.write("svc/list.yaml", "apiVersion: v1\nkind: List\nitems:\n"
               + "".join(f"  - {{apiVersion: v1, kind: ConfigMap, metadata: {{name: {n}}}}}\n" for n in "de"))
    repo.write("svc/f.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}}))
    repo.commit()

    def names(directory: str) -> set[str]:
        extra = f"    directory:\n{textwrap.indent(textwrap.dedent(directory), '      ')}" if directory else ""
        text = application("svc", "svc", namespace).replace("    path: svc\n", "    path: svc\n" + extra)
        repo.write("apps/svc.yaml", text)
        res = diff("apps/svc.yaml", cwd=repo.root)
        assert res.returncode == 1, res.stderr
        return {name for (_, _, _, name) in statuses(res.stdout)}

    assert names("") == {"a", "d", "e", "f"}
    assert names("recurse: true\n") == {"a", "b", "c", "d", "e", "f"}
    assert names("recurse: true\nexclude: 'skip-*'\n") == {"a", "b", "d", "e", "f"}
    assert names("recurse: true\ninclude: '{a.yaml,nested/*}'\n") == {"a", "b", "c"}


# -- exit codes and output formats -----------------------------------------------------------------

def test_exit_codes(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "cm.yaml").write_text(configmap(namespace, "c", {"k": "v"}))
    assert diff(str(app)).returncode == 1  # Missing
    apply(cluster, configmap(namespace, "c", {"k": "v"}))
    assert diff(str(app)).returncode == 0
    assert diff(str(app / "cm.yaml")).returncode == 2  # a file of plain manifests is no Application


def _mixed_app(cluster: Cluster, namespace: str, tmp_path: Path) -> Path:
    """An app named `mixed` with one object of each status: Synced, OutOfSync, Missing, Extraneous."""
    app = tmp_path / "mixed"
    app.mkdir()
    (app / "objects.yaml").write_text("---\n".join([
        configmap(namespace, "same", {"k": "v"}),
        configmap(namespace, "changed", {"k": "new"}),
        configmap(namespace, "missing", {"k": "v"}),
    ]))
    apply(cluster, configmap(namespace, "same", {"k": "v"}))
    apply(cluster, configmap(namespace, "changed", {"k": "old"}))
    apply(cluster, configmap(namespace, "gone", {"k": "v"},
                             annotations={TRACKING: f"mixed:/ConfigMap:{namespace}/gone"}))
    return app


def test_output_json_and_yaml(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _mixed_app(cluster, namespace, tmp_path)
    res = diff(str(app), "-o", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    [only] = doc["apps"]
    assert only["name"] == "mixed"
    status = {r["name"]: r["status"] for r in only["resources"]}
    assert status == {"same": "Synced", "changed": "OutOfSync", "missing": "Missing", "gone": "Extraneous"}
    diffs = {r["name"]: r["diff"] for r in only["resources"]}
    assert diffs["same"] == ""
    assert "-  k: old\n+  k: new\n" in diffs["changed"]
    assert "+  name: missing\n" in diffs["missing"]
    assert "-  name: gone\n" in diffs["gone"]
    assert doc["summary"] == {"outOfSync": 3, "resources": 4}

    res = diff(str(app), "-o", "yaml")
    assert res.returncode == 1, res.stderr
    assert yaml.safe_load(res.stdout) == doc


def test_output_markdown_and_table(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _mixed_app(cluster, namespace, tmp_path)
    res = diff(str(app), "-o", "markdown")
    assert res.returncode == 1, res.stderr
    md = res.stdout
    assert md.startswith("### kubectl gitops diff: 3 of 4 resources differ\n")
    assert f"| mixed | local | ConfigMap | {namespace} | same | Synced |" in md
    assert md.count("<details><summary>") == 3 and md.count("</details>") == 3
    assert (f"<details><summary>mixed: ConfigMap {namespace}/changed (OutOfSync)</summary>\n\n```diff\n"
            in md)
    assert "-  k: old\n+  k: new\n" in md

    res = diff(str(app), "-o", "table")
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["APP", "CLUSTER", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH"]
    assert {line.split()[1] for line in lines[1:]} == {"local"}  # the context's cluster
    assert sorted(line.split()[4:6] for line in lines[1:]) == [
        ["changed", "OutOfSync"], ["gone", "Extraneous"], ["missing", "Missing"], ["same", "Synced"]]
    assert "+++" not in res.stdout


def test_names_that_look_like_numbers_stay_names(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "numbers"
    app.mkdir()
    (app / "cms.yaml").write_text(configmap(namespace, "'0123'", {"k": "v"}) + "---\n"
                                  + configmap(namespace, "1e3", {"k": "v"}))
    for output in ("diff", "table", "markdown"):
        res = diff(str(app), "-o", output)
        assert res.returncode == 1, res.stderr
        lines = [line.split() for line in res.stdout.splitlines()]
        assert ["numbers", "local", "ConfigMap", namespace, "0123", "Missing"] in lines or \
            f"| numbers | local | ConfigMap | {namespace} | 0123 | Missing |" in res.stdout, output
        assert "1000" not in res.stdout and " 123 " not in res.stdout


def test_diff_goes_to_stdout_progress_to_stderr(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _mixed_app(cluster, namespace, tmp_path)
    res = diff(str(app))
    assert res.returncode == 1
    assert "--- live/ConfigMap/changed\n+++ git/ConfigMap/changed\n" in res.stdout
    assert "mixed: rendering" in res.stderr and "API requests" in res.stderr
    assert "API requests" not in res.stdout and "rendering" not in res.stdout


# -- color -----------------------------------------------------------------------------------------

GREEN = "\033[32m"


def _in_pty(argv: list[str], env: dict[str, str]) -> str:
    """Run with stdout on a terminal, as a user at a shell would; return what the terminal got."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(leader)
    return b"".join(chunks).decode()


def test_color(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = _mixed_app(cluster, namespace, tmp_path)
    # conftest sets NO_COLOR=1 and stdout is a pipe here.
    assert "\033[" not in diff(str(app)).stdout
    assert "\033[" not in diff(str(app), "--color", "never").stdout
    forced = diff(str(app), "--color", "always").stdout
    assert f"{GREEN}+  k: new" in forced

    argv = [str(VENV_BIN / "kubectl-gitops-diff"), str(app)]
    on_terminal = _in_pty(argv, {**os.environ, "NO_COLOR": ""})
    assert f"{GREEN}+  k: new" in on_terminal
    assert "\033[" not in _in_pty(argv, {**os.environ, "NO_COLOR": "1"})
    assert "\033[" not in _in_pty([*argv, "--color", "never"], {**os.environ, "NO_COLOR": ""})


# -- the fast path ---------------------------------------------------------------------------------

def _service(ns: str, name: str, port: str) -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  selector: {{app: {name}}}\n  ports: [{port}]\n")


def _requests(res: subprocess.CompletedProcess[str]) -> int:
    m = re.search(r"^(\d+) API requests$", res.stderr, re.M)
    assert m, res.stderr
    return int(m.group(1))


def test_no_change_sends_no_dry_run(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """Objects the cluster already matches are decided from their managed fields: a no-change diff
    sends discovery, argocd-cm and one LIST per kind, however many objects there are."""
    app = tmp_path / "many"
    app.mkdir()
    objects = [deployment(namespace, f"web-{i}", image=f"registry.invalid/web-{i}:1.0.0") + "---\n"
               + _service(namespace, f"web-{i}", "{port: 80}") + "---\n" + configmap(namespace, f"web-{i}", {"k": "v"})
               for i in range(8)]
    (app / "objects.yaml").write_text("---\n".join(objects))
    apply(cluster, (app / "objects.yaml").read_text())
    res = diff(str(app))
    assert res.returncode == 0, res.stdout
    assert len(statuses(res.stdout)) == 24
    assert _requests(res) <= 2 * 3 + 10  # the budget: 2 × kinds + 10

    # One changed object costs one dry-run more.
    (app / "objects.yaml").write_text((app / "objects.yaml").read_text().replace("web-3:1.0.0", "web-3:1.0.1"))
    changed = diff(str(app))
    assert changed.returncode == 1
    assert [k for k, v in statuses(changed.stdout).items() if v != "Synced"] == [
        ("many", "Deployment", namespace, "web-3")]
    assert _requests(changed) == _requests(res) + 1


def test_a_defaulted_list_key_is_not_taken_for_granted(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """Leaving out `protocol` means TCP: a UDP port whose protocol Git dropped is a change."""
    app = tmp_path / "dns"
    app.mkdir()
    apply(cluster, _service(namespace, "dns", "{port: 53, protocol: UDP}"))
    (app / "svc.yaml").write_text(_service(namespace, "dns", "{port: 53}"))
    res = diff(str(app))
    assert res.returncode == 1, res.stdout
    assert "-    protocol: UDP\n" in res.stdout and "+    protocol: TCP\n" in res.stdout
