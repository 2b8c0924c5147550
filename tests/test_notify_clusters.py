"""`notify trigger run` and `notify template notify` with an app's name evaluate the app as its record
shows it, on the app's destination cluster, chosen as sync chooses it (--cluster…): two real control
planes behind one merged kubeconfig, the app synced to each in turn, so each holds a record of it."""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from conftest import Clusters, run_cli
from diff_helpers import ORIGIN_URL, Repo, configmap

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-notifications-cm}
data:
  trigger.on-synced: |
    - when: app.status.sync.status == 'Synced'
      oncePer: app.status.sync.revision
      send: [where]
  template.where: |
    message: "{{.app.metadata.name}} at {{.app.status.sync.revision}} to {{.app.spec.destination.name}}"
"""


def web(ns: str, dest: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: web}}
        spec:
          project: default
          source: {{repoURL: {ORIGIN_URL}, targetRevision: HEAD, path: site}}
          destination: {{{dest}, namespace: {ns}}}
          syncPolicy: {{syncOptions: [CreateNamespace=true]}}
        """)


def gitops(clusters: Clusters, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    res = run_cli("kubectl-gitops", *argv, cwd=cwd, env={"KUBECONFIG": clusters.kubeconfig})
    assert "Traceback" not in res.stderr, res.stderr
    return res


@pytest.fixture
def synced_twice(clusters: Clusters, tmp_path: Path) -> tuple[Repo, str, str, str]:
    """web synced at commit one to the first cluster, then (destination.name staging, which only
    --cluster resolves) at commit two to the second: (repo, config namespace, one, two)."""
    ns = f"n-{uuid.uuid4().hex[:8]}"
    cfg = f"records-{ns}"
    repo = Repo(tmp_path / "config")
    commits = []
    for dest, value, flags in (("server: https://kubernetes.default.svc", "one", ()),
                               ("name: staging", "two", ("--cluster", "staging=second"))):
        repo.write("apps/web.yaml", web(ns, dest))
        repo.write("site/cm.yaml", configmap(ns, "web-cm", {"v": value}))
        commits.append(repo.commit())
        res = gitops(clusters, repo.root, "sync", "web", "--config-namespace", cfg, "--timeout", "90s", *flags)
        assert res.returncode == 0, res.stderr
    (tmp_path / "settings.yaml").write_text(SETTINGS)
    return repo, cfg, commits[0], commits[1]


def test_an_app_name_is_evaluated_on_its_destination_cluster(clusters: Clusters, synced_twice, tmp_path: Path) -> None:
    repo, cfg, one, two = synced_twice
    settings = ("--notifications-cm", str(tmp_path / "settings.yaml"), "--config-namespace", cfg)
    staging = ("--cluster", "staging=second")

    res = gitops(clusters, repo.root, "notify", "template", "notify", "where", "web", *settings, *staging)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"message: web at {two} to staging\n"  # the record on second, the spec from Git
    assert one not in res.stdout + res.stderr  # not the first cluster's older record
    assert f"app web: its record in namespace {cfg} of cluster second" in res.stderr
    res = gitops(clusters, repo.root, "notify", "trigger", "run", "on-synced", "web", *settings, *staging, "-o", "json")
    assert res.returncode == 0, res.stderr
    [cond] = json.loads(res.stdout)["conditions"]
    assert cond["triggered"] is True and cond["oncePer"] == two

    # Without the flag, web's destination resolves nowhere: the error of sync, not the first cluster's record.
    for argv in (("trigger", "run", "on-synced"), ("template", "notify", "where")):
        res = gitops(clusters, repo.root, "notify", *argv, "web", *settings)
        assert res.returncode == 2 and res.stdout == ""
        assert "app web: destination.name 'staging': no such cluster" in res.stderr


def test_without_git_the_record_is_looked_for_on_every_cluster_named(clusters: Clusters, synced_twice,
                                                                      tmp_path: Path) -> None:
    _, cfg, one, _ = synced_twice
    settings = ("--notifications-cm", str(tmp_path / "settings.yaml"), "--config-namespace", cfg)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = gitops(clusters, elsewhere, "notify", "trigger", "run", "on-synced", "web", *settings, "-o", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["conditions"][0]["oncePer"] == one  # the current cluster's record
    res = gitops(clusters, elsewhere, "notify", "trigger", "run", "on-synced", "web", *settings,
                 "--cluster", "second=second")
    assert res.returncode == 2 and res.stdout == ""
    assert f"error: app web: a record in namespace {cfg} of clusters local, second" in res.stderr
    res = gitops(clusters, elsewhere, "notify", "template", "notify", "where", "nothing", *settings)
    assert res.returncode == 2 and res.stdout == ""
    assert (f"error: app nothing: no record in namespace {cfg} of cluster local, and no Application "
            f"{cfg}/nothing on cluster local") in res.stderr
